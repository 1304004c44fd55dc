import { allowlistedAddresses, checkCallbackUrl } from './callback-url.policy';

const policy = { allowHttp: false, allowedHosts: ['api.modelriver.com', '127.0.0.1'] };
const CH = '8d7f0c5e-1b2a-4c3d-9e8f-0a1b2c3d4e5f';

describe('checkCallbackUrl', () => {
  it('accepts the documented form', () => {
    const result = checkCallbackUrl(`https://api.modelriver.com/v1/callback/${CH}`, CH, policy);
    expect(result).toMatchObject({ ok: true });
  });

  it.each([
    ['not a URL', 'not a url', 'not a valid URL'],
    ['http when not allowed', `http://api.modelriver.com/v1/callback/${CH}`, 'scheme http'],
    ['ftp', `ftp://api.modelriver.com/v1/callback/${CH}`, 'scheme ftp'],
    ['credentials', `https://u:p@api.modelriver.com/v1/callback/${CH}`, 'credentials'],
    ['a host not allowlisted', `https://evil.example/v1/callback/${CH}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['a look-alike host', `https://api.modelriver.com.evil.example/v1/callback/${CH}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['localhost', `https://localhost/v1/callback/${CH}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['metadata address', `https://169.254.169.254/v1/callback/${CH}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['IPv4-mapped IPv6', `https://[::ffff:127.0.0.1]/v1/callback/${CH}`, 'not in CALLBACK_ALLOWED_HOSTS'],
    ['another channel', `https://api.modelriver.com/v1/callback/other-channel`, 'channel_id'],
    ['a trailing segment', `https://api.modelriver.com/v1/callback/${CH}/x`, 'channel_id'],
    ['a bad escape', `https://api.modelriver.com/v1/callback/%E0%A4%A`, 'path'],
  ])('refuses %s', (_name, url, reason) => {
    const result = checkCallbackUrl(url, CH, policy);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain(reason);
  });

  it('sees through decimal IPv4: 2130706433 is 127.0.0.1, refused unless that address is allowlisted', () => {
    const url = `https://2130706433/v1/callback/${CH}`;
    expect(checkCallbackUrl(url, CH, { allowHttp: false, allowedHosts: ['api.modelriver.com'] })).toMatchObject({ ok: false });
    expect(checkCallbackUrl(url, CH, policy)).toMatchObject({ ok: true });
  });

  it('allows http only when configured', () => {
    expect(checkCallbackUrl(`http://127.0.0.1:8080/v1/callback/${CH}`, CH, { ...policy, allowHttp: true })).toMatchObject({ ok: true });
  });
});

describe('allowlistedAddresses', () => {
  it('keeps only IP literals', () => {
    expect(allowlistedAddresses({ allowHttp: false, allowedHosts: ['api.modelriver.com', '127.0.0.1', '[::1]'] })).toEqual(['127.0.0.1', '::1']);
  });
});
