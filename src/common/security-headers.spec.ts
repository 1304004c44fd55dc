import { createServer, IncomingHttpHeaders } from 'node:http';
import { AddressInfo } from 'node:net';
import helmet, { HelmetOptions } from 'helmet';
import { constantSecurityHeaders } from './security-headers';

/** What helmet itself sets on a real response for `options` (lower-cased, X-Powered-By aside). */
async function helmetOnARealResponse(options: HelmetOptions): Promise<IncomingHttpHeaders> {
  const middleware = helmet(options);
  const server = createServer((request, response) => middleware(request, response, () => response.end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    const headers: IncomingHttpHeaders = {};
    for (const [name, value] of response.headers) {
      if (!['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'].includes(name)) headers[name] = value;
    }
    return headers;
  } finally {
    server.close();
  }
}

describe('constantSecurityHeaders', () => {
  it.each<[string, HelmetOptions]>([
    ['the defaults', {}],
    ['the app options', { contentSecurityPolicy: { directives: { 'connect-src': ["'self'", 'ws:'], 'upgrade-insecure-requests': null } } }],
    ['HSTS and the frame guard changed', { strictTransportSecurity: { maxAge: 60 }, frameguard: { action: 'deny' } }],
  ])('sets exactly what helmet sets with %s', async (_name, options) => {
    expect(constantSecurityHeaders(options)).toEqual(await helmetOnARealResponse(options));
  });

  it('refuses a directive computed per request (a nonce), which is not constant', () => {
    const options: HelmetOptions = { contentSecurityPolicy: { directives: { 'script-src': ["'self'", () => "'nonce-abc'"] } } };
    expect(() => constantSecurityHeaders(options)).toThrow(/script-src directive is computed per request/);
  });
});
