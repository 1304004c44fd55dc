import { JsonObject } from '../common/json';

/** What every event on a channel carries: its channel, a per-channel sequence number, and the server time. */
export interface ChannelEventBase {
  channel_id: string;
  /** Grows with every event of the channel (on every instance): drop any seq already seen. */
  seq: number;
  /** ISO-8601 server time. */
  at: string;
}

/** The `ai:*` events of the `/ai` namespace, with their payloads: the one map the gateway and the publisher use. */
export interface AiServerEvents {
  /** A ModelRiver push relayed as it came (status ai_generated, completed, success or error). */
  'ai:response': (event: ChannelEventBase & JsonObject & { status?: string }) => void;
  /** Our worker started processing the channel's delivery. */
  'ai:processing': (event: ChannelEventBase & { status: 'processing' }) => void;
  /** Our processor's result and what became of the callback. */
  'ai:processed': (event: ChannelEventBase & { status: 'completed'; result: JsonObject | null; callback_status: string | null }) => void;
  /** ModelRiver reported an error, or our processing failed for good. */
  'ai:error': (event: ChannelEventBase & { source: 'upstream' | 'processing'; status?: 'failed'; error: string }) => void;
}

export type AiServerEventName = keyof AiServerEvents;
/** An event's payload without what the publisher adds (channel_id, seq, at). */
export type AiEventBody<E extends AiServerEventName> = Omit<Parameters<AiServerEvents[E]>[0], keyof ChannelEventBase>;
export type AiEventPayload<E extends AiServerEventName> = Parameters<AiServerEvents[E]>[0];

/** What browsers send on `/ai` (answered through socket.io acknowledgements). */
export interface AiClientEvents {
  subscribe: (body: { channel_id: string; subscribe_token: string }, ack: (answer: unknown) => void) => void;
  unsubscribe: (body: { channel_id: string }, ack: (answer: unknown) => void) => void;
}
