import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureScheme } from '../config/signature-schemes';

export type HeaderValue = string | string[] | undefined;
export type Headers = Readonly<Record<string, HeaderValue>>;

export interface SignatureVerificationInput {
  rawBody: Buffer;
  /** Lower-cased header names, as Node delivers them. */
  headers: Headers;
  /** Accepted secrets, newest first; every one is tried (rotation). */
  secrets: readonly string[];
  schemes: readonly SignatureScheme[];
  /** WEBHOOK_TIMESTAMP_TOLERANCE_S: a timestamped signature older or newer than this is refused (unset: never). */
  toleranceSeconds?: number;
  now?: number;
}

export type SignatureVerification =
  | { ok: true; scheme: SignatureScheme; secretIndex: number }
  | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' | 'stale' };

const SIGNATURE_FORMAT = /^[0-9a-fA-F]{64}$/;
// Unix seconds, milliseconds or an ISO-8601 instant; anything else is not a timestamp a sender produces.
const TIMESTAMP_FORMAT = /^[0-9A-Za-z:.+-]{1,40}$/;

function single(value: HeaderValue): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function hmac(secret: string, parts: readonly (string | Buffer)[]): Buffer {
  const mac = createHmac('sha256', secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Parses lazily and at most once: only the `json` and `ts_data` schemes look at the parsed body. */
function lazyJson(rawBody: Buffer): () => unknown {
  let parsed: { value: unknown } | undefined;
  return () => {
    if (!parsed) {
      try {
        parsed = { value: JSON.parse(rawBody.toString('utf8')) as unknown };
      } catch {
        parsed = { value: undefined };
      }
    }
    return parsed.value;
  };
}

interface Candidate {
  scheme: SignatureScheme;
  signature: Buffer;
  message: () => (string | Buffer)[] | undefined;
  /** The signed timestamp (timestamped schemes). */
  timestamp?: string;
}

/** A sender's timestamp in milliseconds: Unix seconds, Unix milliseconds, or an ISO-8601 instant. */
export function timestampMs(value: string): number {
  if (/^\d{1,11}$/.test(value)) return Number(value) * 1000;
  if (/^\d{12,14}$/.test(value)) return Number(value);
  return Date.parse(value);
}

/**
 * Checks a ModelRiver webhook signature over the exact received bytes, for every scheme of docs/protocol.md §3.
 * Headers are format-checked before decoding, digests are compared in constant time, and nothing throws:
 * a hostile header can only ever produce `{ ok: false }`.
 */
export function verifyWebhookSignature(input: SignatureVerificationInput): SignatureVerification {
  const { rawBody, headers, secrets, schemes } = input;
  const enabled = new Set(schemes);
  const parsedBody = lazyJson(rawBody);
  const candidates: Candidate[] = [];
  let sawHeader = false;
  let sawMalformed = false;

  /** The two schemes that sign "{timestamp}." before the body, under either header family. */
  const timestamped = (signature: Buffer, timestamp: string) => {
    candidates.push({ scheme: 'ts_raw', signature, timestamp, message: () => [`${timestamp}.`, rawBody] });
    candidates.push({
      scheme: 'ts_data',
      signature,
      timestamp,
      message: () => {
        // Only a body with a `data` object can match: an HMAC over "{ts}.undefined" would vouch for any body.
        const body = parsedBody();
        if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
        const data = (body as Record<string, unknown>).data;
        if (typeof data !== 'object' || data === null) return undefined;
        return [`${timestamp}.`, JSON.stringify(data)];
      },
    });
  };

  // mr-signature: over the raw body or its re-serialisation; with mr-timestamp (which the docs list on every
  // webhook), also over "{timestamp}." + body or data.
  const mrSignature = headers['mr-signature'];
  if (mrSignature !== undefined) {
    sawHeader = true;
    const value = single(mrSignature);
    const timestamp = single(headers['mr-timestamp']);
    if (value === undefined || !SIGNATURE_FORMAT.test(value)) {
      sawMalformed = true;
    } else {
      const signature = Buffer.from(value, 'hex');
      candidates.push({ scheme: 'raw', signature, message: () => [rawBody] });
      candidates.push({
        scheme: 'json',
        signature,
        message: () => {
          const body = parsedBody();
          return body === undefined ? undefined : [JSON.stringify(body)];
        },
      });
      if (timestamp !== undefined && TIMESTAMP_FORMAT.test(timestamp)) timestamped(signature, timestamp);
    }
  }

  // x-modelriver-signature: always timestamped, by x-modelriver-timestamp.
  const xSignature = headers['x-modelriver-signature'];
  if (xSignature !== undefined) {
    sawHeader = true;
    const value = single(xSignature);
    const timestamp = single(headers['x-modelriver-timestamp']);
    if (value === undefined || !SIGNATURE_FORMAT.test(value) || timestamp === undefined || !TIMESTAMP_FORMAT.test(timestamp)) {
      sawMalformed = true;
    } else {
      timestamped(Buffer.from(value, 'hex'), timestamp);
    }
  }

  if (!sawHeader) return { ok: false, reason: 'missing' };
  const usable = candidates.filter((candidate) => enabled.has(candidate.scheme));
  if (usable.length === 0) return { ok: false, reason: sawMalformed ? 'malformed' : 'mismatch' };

  for (const candidate of usable) {
    let message: (string | Buffer)[] | undefined;
    try {
      message = candidate.message();
    } catch {
      // Re-serialising a hostile body (say, nested 10,000 deep) can overflow the stack: it cannot match.
      continue;
    }
    if (!message) continue;
    for (let secretIndex = 0; secretIndex < secrets.length; secretIndex++) {
      const expected = hmac(secrets[secretIndex], message);
      if (timingSafeEqual(expected, candidate.signature)) {
        // Authentic; with a tolerance, a timestamped signature must also be recent (a replay defence).
        if (candidate.timestamp !== undefined && input.toleranceSeconds !== undefined) {
          const skew = Math.abs((input.now ?? Date.now()) - timestampMs(candidate.timestamp));
          if (!(skew <= input.toleranceSeconds * 1000)) return { ok: false, reason: 'stale' };
        }
        return { ok: true, scheme: candidate.scheme, secretIndex };
      }
    }
  }
  return { ok: false, reason: 'mismatch' };
}
