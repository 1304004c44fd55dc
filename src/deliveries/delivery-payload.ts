import secureJson from 'secure-json-parse';
import { InvalidJsonError } from '../common/errors';
import { isJsonObject, JsonObject } from '../common/json';

/**
 * Unwraps the envelope variant of docs/protocol.md: `{channel_id, timestamp, data: {type, event, ...}}`.
 * When the top level has no `type` but `data.type` exists, the payload is `data`, with the envelope's
 * `channel_id` and `timestamp` filled in where the inner object lacks them. Anything else is returned as is,
 * so unknown fields pass through untouched.
 */
export function normaliseWebhookPayload(body: unknown): unknown {
  if (!isJsonObject(body) || body.type !== undefined) return body;
  const inner = body.data;
  if (!isJsonObject(inner) || typeof inner.type !== 'string') return body;
  return {
    ...inner,
    channel_id: inner.channel_id ?? body.channel_id,
    timestamp: inner.timestamp ?? body.timestamp,
  };
}

/**
 * A webhook body as the rest of the app reads it: JSON parsed with prototype keys dropped (never merged, so a
 * hostile body cannot reach Object.prototype), then the envelope unwrapped. Throws InvalidJsonError.
 */
export function parseDeliveryPayload(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = secureJson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' });
  } catch (error) {
    throw new InvalidJsonError('request body is not valid JSON', { cause: error });
  }
  return normaliseWebhookPayload(parsed);
}

/** A stored payload that is not a JSON object: only a quarantined delivery can hold one. */
export class StoredPayloadError extends Error {
  override name = 'StoredPayloadError';
}

/**
 * The payload of a stored delivery, read the one way every reader needs it (the worker, the status API, a
 * replay): parsed and normalised, and an object.
 */
export function readStoredPayload(row: { id: string; payload: string }): JsonObject {
  const payload = parseDeliveryPayload(row.payload);
  if (!isJsonObject(payload)) throw new StoredPayloadError(`delivery ${row.id}: the stored payload is not a JSON object`);
  return payload;
}
