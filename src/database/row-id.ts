import { randomUUID } from 'node:crypto';

/**
 * A time-ordered UUID (RFC 9562 version 7) for primary keys: 48 bits of milliseconds, then random bits. New
 * rows land at the right edge of the key's index instead of on a random page of it, so a commit touches
 * (and the SQLite log rewrites) a few hot pages rather than one page per row.
 */
export function newRowId(now = Date.now()): string {
  // randomUUID draws from a cached entropy pool (randomFillSync would cost a syscall per id): keep its random
  // bits, put the time in front and mark the version. Variant bits are already RFC 9562's.
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(15)}`;
}
