import { createHmac } from 'node:crypto';
import { SIGNATURE_SCHEMES, SignatureScheme } from '../config/signature-schemes';
import { signWebhook } from '../sandbox/webhook-signer';
import { Headers, verifyWebhookSignature } from './webhook-signature.verifier';

const SECRET = 'whsec_current_secret_0123456789';
const OLD_SECRET = 'whsec_previous_secret_987654321';
// Python-style separators: the raw bytes differ from JSON.stringify's output, so `raw` and `json` are distinct.
const BODY = Buffer.from(
  '{"type": "task.ai_generated", "event": "content_ready", "channel_id": "c-1", ' +
    '"ai_response": {"data": {"title": "Hi"}}, "data": {"title": "Top"}, "callback_url": "https://x/v1/callback/c-1"}',
);
const TS = '1764180000';

function verify(headers: Headers, options: { body?: Buffer; schemes?: SignatureScheme[]; toleranceSeconds?: number; now?: number } = {}) {
  return verifyWebhookSignature({
    rawBody: options.body ?? BODY,
    headers,
    secrets: [SECRET, OLD_SECRET],
    schemes: options.schemes ?? [...SIGNATURE_SCHEMES],
    toleranceSeconds: options.toleranceSeconds,
    now: options.now,
  });
}

const hex = (secret: string, message: string | Buffer) =>
  createHmac('sha256', secret).update(message).digest('hex');

describe('verifyWebhookSignature', () => {
  describe('mr-signature with mr-timestamp (the header family the docs list on every webhook)', () => {
    const data = JSON.stringify((JSON.parse(BODY.toString()) as { data: unknown }).data);
    it.each<[SignatureScheme, string]>([
      ['ts_raw', `${TS}.${BODY.toString()}`],
      ['ts_data', `${TS}.${data}`],
    ])('accepts %s signed over "{timestamp}." + the signed bytes', (scheme, message) => {
      expect(verify({ 'mr-signature': hex(SECRET, message), 'mr-timestamp': TS })).toEqual({ ok: true, scheme, secretIndex: 0 });
    });

    it('still accepts raw when mr-timestamp comes along (the sandbox sends it with every webhook)', () => {
      expect(verify({ 'mr-signature': hex(SECRET, BODY), 'mr-timestamp': TS })).toEqual({ ok: true, scheme: 'raw', secretIndex: 0 });
    });

    it('does not accept a timestamped signature without the timestamp it signed', () => {
      expect(verify({ 'mr-signature': hex(SECRET, `${TS}.${BODY.toString()}`), 'mr-timestamp': '1764180001' })).toEqual({ ok: false, reason: 'mismatch' });
      expect(verify({ 'mr-signature': hex(SECRET, `${TS}.${BODY.toString()}`) })).toEqual({ ok: false, reason: 'mismatch' });
    });
  });

  describe('WEBHOOK_TIMESTAMP_TOLERANCE_S', () => {
    const signedAt = Number(TS) * 1000;
    const headers = { 'x-modelriver-signature': hex(SECRET, `${TS}.${BODY.toString()}`), 'x-modelriver-timestamp': TS };

    it('accepts a timestamped signature within the tolerance, either side of now', () => {
      expect(verify(headers, { toleranceSeconds: 300, now: signedAt + 299_000 })).toMatchObject({ ok: true });
      expect(verify(headers, { toleranceSeconds: 300, now: signedAt - 299_000 })).toMatchObject({ ok: true });
    });

    it('refuses one outside it as stale (a replayed capture)', () => {
      expect(verify(headers, { toleranceSeconds: 300, now: signedAt + 301_000 })).toEqual({ ok: false, reason: 'stale' });
    });

    it('does not apply to schemes without a timestamp, nor when unset', () => {
      expect(verify({ 'mr-signature': hex(SECRET, BODY) }, { toleranceSeconds: 1, now: 0 })).toMatchObject({ ok: true, scheme: 'raw' });
      expect(verify(headers, { now: signedAt + 10 * 86_400_000 })).toMatchObject({ ok: true });
    });

    it('reads milliseconds and ISO-8601 timestamps too', () => {
      for (const ts of [String(signedAt), new Date(signedAt).toISOString()]) {
        const signed = { 'x-modelriver-signature': hex(SECRET, `${ts}.${BODY.toString()}`), 'x-modelriver-timestamp': ts };
        expect(verify(signed, { toleranceSeconds: 60, now: signedAt + 59_000 })).toMatchObject({ ok: true });
        expect(verify(signed, { toleranceSeconds: 60, now: signedAt + 61_000 })).toEqual({ ok: false, reason: 'stale' });
      }
    });
  });

  describe.each(SIGNATURE_SCHEMES)('scheme %s', (scheme) => {
    it('accepts a valid signature and reports the scheme and secret position', () => {
      expect(verify(signWebhook(BODY, SECRET, scheme, TS))).toEqual({ ok: true, scheme, secretIndex: 0 });
    });

    it('accepts the second (older) secret during rotation', () => {
      expect(verify(signWebhook(BODY, OLD_SECRET, scheme, TS))).toEqual({ ok: true, scheme, secretIndex: 1 });
    });

    it('rejects a wrong secret', () => {
      expect(verify(signWebhook(BODY, 'whsec_someone_else_entirely', scheme, TS))).toEqual({
        ok: false,
        reason: 'mismatch',
      });
    });

    it('is refused when the scheme is disabled by configuration', () => {
      const others = SIGNATURE_SCHEMES.filter((s) => s !== scheme);
      const result = verify(signWebhook(BODY, SECRET, scheme, TS), { schemes: others });
      // json and raw share a header (so do ts_raw and ts_data): only a scheme that really matches may win.
      expect(result.ok).toBe(false);
    });
  });

  it.each([
    ['raw', (b: Buffer) => Buffer.from(b.toString().replace('"Hi"', '"Hj"'))],
    ['ts_raw', (b: Buffer) => Buffer.concat([b, Buffer.from(' ')])],
    ['ts_data', (b: Buffer) => Buffer.from(b.toString().replace('"Top"', '"Tip"'))],
    ['json', (b: Buffer) => Buffer.from(b.toString().replace('c-1"', 'c-2"'))],
  ] as const)('rejects a body changed by one byte under %s', (scheme, tamper) => {
    const headers = signWebhook(BODY, SECRET, scheme, TS);
    expect(verify(headers, { body: tamper(BODY) })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('under raw, a re-serialised body no longer matches the raw signature', () => {
    const pretty = Buffer.from(JSON.stringify(JSON.parse(BODY.toString()), null, 2));
    expect(verify(signWebhook(BODY, SECRET, 'raw', TS), { body: pretty, schemes: ['raw'] })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
  });

  it('under json, whitespace differences still match (the signed bytes are the re-serialised body)', () => {
    const pretty = Buffer.from(JSON.stringify(JSON.parse(BODY.toString()), null, 2));
    expect(verify(signWebhook(BODY, SECRET, 'json', TS), { body: pretty })).toEqual({
      ok: true,
      scheme: 'json',
      secretIndex: 0,
    });
  });

  it('ts_data never authenticates a body without a data object', () => {
    const body = Buffer.from('{"type":"task.ai_generated","channel_id":"c-9"}');
    const headers = {
      'x-modelriver-signature': hex(SECRET, `${TS}.undefined`),
      'x-modelriver-timestamp': TS,
    };
    expect(verify(headers, { body })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('rejects a ts signature whose timestamp was changed', () => {
    const headers = { ...signWebhook(BODY, SECRET, 'ts_raw', TS), 'x-modelriver-timestamp': '1764180001' };
    expect(verify(headers)).toEqual({ ok: false, reason: 'mismatch' });
  });

  const valid = hex(SECRET, BODY);
  it.each<[string, Headers, string]>([
    ['no signature header', {}, 'missing'],
    ['an empty header', { 'mr-signature': '' }, 'malformed'],
    ['63 characters', { 'mr-signature': valid.slice(1) }, 'malformed'],
    ['65 characters', { 'mr-signature': `${valid}0` }, 'malformed'],
    ['non-hex characters', { 'mr-signature': `${valid.slice(0, 63)}g` }, 'malformed'],
    ['multi-byte characters', { 'mr-signature': `${valid.slice(0, 62)}é` }, 'malformed'],
    ['a sha256= prefix', { 'mr-signature': `sha256=${valid}` }, 'malformed'],
    ['a repeated header', { 'mr-signature': [valid, valid] }, 'malformed'],
    ['spaces around the value', { 'mr-signature': ` ${valid}` }, 'malformed'],
    ['a ts signature without timestamp', { 'x-modelriver-signature': valid }, 'malformed'],
    [
      'a ts signature with a hostile timestamp',
      { 'x-modelriver-signature': valid, 'x-modelriver-timestamp': '1\n2' },
      'malformed',
    ],
  ])('rejects %s without throwing', (_name, headers, reason) => {
    expect(() => verify(headers)).not.toThrow();
    expect(verify(headers)).toEqual({ ok: false, reason });
  });

  it('does not throw on a body that is not JSON under the schemes that parse it', () => {
    const body = Buffer.from([0xff, 0xfe, 0x00, 0x7b]);
    const headers = {
      'mr-signature': hex(SECRET, 'x'),
      'x-modelriver-signature': hex(SECRET, 'x'),
      'x-modelriver-timestamp': TS,
    };
    expect(verify(headers, { body })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('does not throw on a body nested too deep to re-serialise (json and ts_data parse it)', () => {
    const body = Buffer.from(`{"data":${'['.repeat(20_000)}${']'.repeat(20_000)}}`);
    const headers = { 'mr-signature': hex(SECRET, 'x'), 'x-modelriver-signature': hex(SECRET, 'x'), 'x-modelriver-timestamp': TS };
    expect(() => verify(headers, { body })).not.toThrow();
    expect(verify(headers, { body })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('accepts upper-case hex (same bytes)', () => {
    expect(verify({ 'mr-signature': valid.toUpperCase() })).toEqual({ ok: true, scheme: 'raw', secretIndex: 0 });
  });
});
