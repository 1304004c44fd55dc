import { createHmac, randomUUID } from 'node:crypto';

/**
 * Signs like a ModelRiver sender would, written independently of the app's verifier so that a bug in
 * one cannot hide a bug in the other.
 */
export const TEST_SECRET = 'whsec_test_secret_for_e2e_only_0001';
export const TEST_OLD_SECRET = 'whsec_test_secret_rotated_out_0002';

export type Scheme = 'raw' | 'ts_raw' | 'ts_data' | 'json';

const hmacHex = (secret: string, message: string) => createHmac('sha256', secret).update(message).digest('hex');

export function signedHeaders(body: string, scheme: Scheme = 'raw', secret = TEST_SECRET): Record<string, string> {
  const timestamp = '1764187200';
  switch (scheme) {
    case 'raw':
      return { 'content-type': 'application/json', 'mr-signature': hmacHex(secret, body) };
    case 'json':
      return { 'content-type': 'application/json', 'mr-signature': hmacHex(secret, JSON.stringify(JSON.parse(body))) };
    case 'ts_raw':
      return {
        'content-type': 'application/json',
        'x-modelriver-signature': hmacHex(secret, `${timestamp}.${body}`),
        'x-modelriver-timestamp': timestamp,
      };
    case 'ts_data':
      return {
        'content-type': 'application/json',
        'x-modelriver-signature': hmacHex(secret, `${timestamp}.${JSON.stringify((JSON.parse(body) as { data: unknown }).data)}`),
        'x-modelriver-timestamp': timestamp,
      };
  }
}

export interface AiGeneratedOptions {
  channelId?: string;
  event?: string;
  data?: Record<string, unknown>;
  callbackBase?: string;
}

/** A `task.ai_generated` delivery as docs/protocol.md §3 describes it. */
export function aiGeneratedPayload(options: AiGeneratedOptions = {}): Record<string, unknown> {
  const channelId = options.channelId ?? randomUUID();
  return {
    type: 'task.ai_generated',
    event: options.event ?? 'content_ready',
    channel_id: channelId,
    ai_response: { data: options.data ?? { title: 'Hello world', body: 'Generated text' }, meta: { model: 'sandbox' } },
    callback_url: `${options.callbackBase ?? 'https://api.modelriver.com'}/v1/callback/${channelId}`,
    callback_required: true,
    customer_data: { user_id: 'u-1' },
    meta: {},
    timestamp: new Date().toISOString(),
  };
}

/** The envelope variant: the payload wrapped in `data`, as `ts_data` senders produce it. */
export function envelope(payload: Record<string, unknown>): Record<string, unknown> {
  return { channel_id: payload.channel_id, timestamp: payload.timestamp, data: payload };
}
