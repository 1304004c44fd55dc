import { signSubscriptionToken, verifySubscriptionToken } from './subscription-token';

const SECRET = 'realtime-secret-for-unit-tests-0123456789';
const NOW = Date.parse('2026-11-26T12:00:00Z');
const LATER = new Date(NOW + 60_000);

describe('subscription tokens', () => {
  const token = signSubscriptionToken('channel-1', LATER, SECRET);

  it('verifies for its channel before expiry', () => {
    expect(verifySubscriptionToken(token, 'channel-1', SECRET, NOW)).toEqual({ ok: true, expiresAt: LATER });
  });

  it.each<[string, unknown, string, string, number]>([
    ['another channel', token, 'channel-2', SECRET, NOW],
    ['another secret', token, 'channel-1', 'some-other-secret-0123456789abcdef', NOW],
    ['a tampered expiry', token.replace(/^v1\.(\d+)/, (_m, s: string) => `v1.${Number(s) + 3600}`), 'channel-1', SECRET, NOW],
    ['garbage', 'v1.abc.def', 'channel-1', SECRET, NOW],
    ['a non-string', 42, 'channel-1', SECRET, NOW],
    ['an empty string', '', 'channel-1', SECRET, NOW],
  ])('rejects %s as invalid', (_name, candidate, channel, secret, now) => {
    expect(verifySubscriptionToken(candidate, channel, secret, now)).toEqual({ ok: false, error: 'invalid_token' });
  });

  it('rejects an expired token as expired', () => {
    expect(verifySubscriptionToken(token, 'channel-1', SECRET, LATER.getTime())).toEqual({ ok: false, error: 'expired_token' });
  });
});
