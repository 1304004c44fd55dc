import { randomUUID } from 'node:crypto';

/** The id's first 15 characters for one millisecond: its 48 bits of time in hex, dashed, and the version digit. */
let prefixMs = -1;
let prefix = '';

/**
 * A time-ordered UUID (RFC 9562 version 7) for primary keys: 48 bits of milliseconds, then random bits. New
 * rows land at the right edge of the key's index instead of on a random page of it, so a commit touches
 * (and the SQLite log rewrites) a few hot pages rather than one page per row.
 */
export function newRowId(now = Date.now()): string {
  if (now !== prefixMs) {
    // The time as two 24-bit halves: small integers print in hex on V8's fast path; a 48-bit number is a double,
    // which it prints on its general path for fractions (~1.3 µs an id, and several ids are made per delivery).
    const high = Math.floor(now / 0x1000000);
    const low = now - high * 0x1000000;
    const time = high.toString(16).padStart(6, '0') + low.toString(16).padStart(6, '0');
    prefix = `${time.slice(0, 8)}-${time.slice(8)}-7`;
    prefixMs = now;
  }
  // randomUUID draws from a cached entropy pool (randomFillSync would cost a syscall per id): keep its random
  // bits after the version digit. Variant bits are already RFC 9562's.
  return prefix + randomUUID().slice(15);
}
