import { createHash } from 'node:crypto';

/**
 * ModelRiver retries a webhook until it hears 2xx, and may deliver one twice: a delivery is the same one when
 * its channel and type are. The unique index on this key makes the insert-if-absent atomic, also across
 * instances.
 */
export function dedupeKey(channelId: string, type: string): string {
  return `${channelId}:${type}`;
}

/**
 * A quarantined body has no trustworthy channel or type: identical bytes are the same delivery. A type always
 * holds a dot and a hex digest never does, so these keys cannot collide with dedupeKey's.
 */
export function quarantineKey(rawBody: Buffer): string {
  return `quarantine:${createHash('sha256').update(rawBody).digest('hex')}`;
}
