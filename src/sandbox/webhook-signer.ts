import { createHmac } from 'node:crypto';
import { SignatureScheme } from '../config/signature-schemes';

/** The headers ModelRiver attaches to a webhook under each scheme (docs/protocol.md): the sandbox signs with it, and the verifier spec checks that the two agree. */
export function signWebhook(
  rawBody: string | Buffer,
  secret: string,
  scheme: SignatureScheme,
  timestamp = String(Math.floor(Date.now() / 1000)),
): Record<string, string> {
  const body = Buffer.isBuffer(rawBody) ? rawBody : Buffer.from(rawBody);
  const hex = (parts: (string | Buffer)[]) => {
    const mac = createHmac('sha256', secret);
    for (const part of parts) mac.update(part);
    return mac.digest('hex');
  };
  switch (scheme) {
    case 'raw':
      return { 'mr-signature': hex([body]) };
    case 'json':
      return { 'mr-signature': hex([JSON.stringify(JSON.parse(body.toString('utf8')))]) };
    case 'ts_raw':
      return {
        'x-modelriver-signature': hex([`${timestamp}.`, body]),
        'x-modelriver-timestamp': timestamp,
      };
    case 'ts_data': {
      const data = (JSON.parse(body.toString('utf8')) as { data?: unknown }).data;
      return {
        'x-modelriver-signature': hex([`${timestamp}.`, JSON.stringify(data)]),
        'x-modelriver-timestamp': timestamp,
      };
    }
  }
}
