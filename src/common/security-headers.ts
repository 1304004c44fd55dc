import { IncomingMessage, ServerResponse } from 'node:http';
import helmet, { HelmetOptions } from 'helmet';

/**
 * Helmet's headers for `options`, worked out once. With static directives (no per-request nonce) helmet sets
 * the same headers on every response, so running its dozen middleware functions per request (~5 % of a
 * webhook's CPU) buys nothing: this runs them once against a recording response and returns what they set.
 * Refuses options that would make a response differ from helmet's own: a directive computed per request
 * (a function), or anything other than setting headers and removing X-Powered-By.
 */
export function constantSecurityHeaders(options: HelmetOptions): Readonly<Record<string, string>> {
  const directives = (typeof options.contentSecurityPolicy === 'object' ? options.contentSecurityPolicy.directives : undefined) ?? {};
  for (const [name, value] of Object.entries(directives)) {
    if (typeof value === 'function' || (Array.isArray(value) && value.some((v) => typeof v === 'function'))) {
      throw new Error(`security headers: the ${name} directive is computed per request; use helmet as middleware instead`);
    }
  }
  const headers: Record<string, string> = {};
  const unexpected: string[] = [];
  const recorder = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      // Fastify never sets X-Powered-By, so there is nothing to remove per request.
      if (name.toLowerCase() !== 'x-powered-by') unexpected.push(`removeHeader(${name})`);
    },
    getHeader: () => undefined,
  };
  let finished = false;
  let error: unknown;
  helmet(options)({ headers: {} } as IncomingMessage, recorder as unknown as ServerResponse, (e?: unknown) => {
    finished = true;
    error = e;
  });
  if (!finished || error !== undefined || unexpected.length > 0) {
    throw new Error(`security headers: helmet did not answer with constant headers (${finished ? (error instanceof Error ? error.message : unexpected.join(', ')) : 'it did not finish at once'})`);
  }
  return Object.freeze(headers);
}
