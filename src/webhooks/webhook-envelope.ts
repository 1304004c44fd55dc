import secureJson from 'secure-json-parse';
import { InvalidJsonError } from '../common/errors';

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Unwraps the envelope variant of PROTOCOL.md §3: `{channel_id, timestamp, data: {type, event, ...}}`.
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

/** ISO-8601 strings pass through; Unix seconds become ISO-8601; anything else is undefined. */
export function normaliseTimestamp(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) {
    const date = new Date(value * 1000);
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  }
  if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return value;
  return undefined;
}

/** Parses webhook JSON with prototype keys dropped, never merged: a hostile body cannot reach Object.prototype. */
export function parseWebhookJson(text: string): unknown {
  try {
    return secureJson.parse(text, undefined, { protoAction: 'remove', constructorAction: 'remove' });
  } catch (error) {
    throw new InvalidJsonError('request body is not valid JSON', { cause: error });
  }
}
