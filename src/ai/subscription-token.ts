import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * `v1.<expires, unix seconds>.<hex HMAC-SHA256 of "v1.<channel_id>.<expires>">`: bound to one channel, expiring,
 * and verifiable by any instance that shares the secret (no server-side session).
 */
export function signSubscriptionToken(channelId: string, expiresAt: Date, secret: string): string {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  const mac = createHmac('sha256', secret).update(`v1.${channelId}.${expires}`).digest('hex');
  return `v1.${expires}.${mac}`;
}

export type TokenCheck = { ok: true; expiresAt: Date } | { ok: false; error: 'invalid_token' | 'expired_token' };

export function verifySubscriptionToken(token: unknown, channelId: string, secret: string, now = Date.now()): TokenCheck {
  if (typeof token !== 'string') return { ok: false, error: 'invalid_token' };
  const match = /^v1\.(\d{1,12})\.([0-9a-f]{64})$/.exec(token);
  if (!match) return { ok: false, error: 'invalid_token' };
  const expected = createHmac('sha256', secret).update(`v1.${channelId}.${match[1]}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(match[2], 'hex'))) return { ok: false, error: 'invalid_token' };
  const expiresAt = new Date(Number(match[1]) * 1000);
  if (expiresAt.getTime() <= now) return { ok: false, error: 'expired_token' };
  return { ok: true, expiresAt };
}
