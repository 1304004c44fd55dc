import { isIP } from 'node:net';

export interface CallbackUrlPolicy {
  allowHttp: boolean;
  /** Host names or IP literals, lower case. */
  allowedHosts: readonly string[];
}

export type CallbackUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

const bare = (host: string): string => host.toLowerCase().replace(/^\[|\]$/g, '');

/**
 * Checks a callback URL taken from a webhook payload (docs/protocol.md §4) before any connection is made.
 * Addresses are checked again at connect time (see the callback client), which catches names that
 * resolve to private addresses.
 */
export function checkCallbackUrl(raw: string, channelId: string, policy: CallbackUrlPolicy): CallbackUrlCheck {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'callback_url is not a valid URL' };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return { ok: false, reason: `callback_url scheme ${url.protocol.replace(':', '')} is not allowed` };
  }
  if (url.username || url.password) return { ok: false, reason: 'callback_url must not carry credentials' };
  const host = bare(url.hostname);
  if (!policy.allowedHosts.some((allowed) => bare(allowed) === host)) {
    return { ok: false, reason: `callback_url host ${host} is not in CALLBACK_ALLOWED_HOSTS` };
  }
  let lastSegment: string;
  try {
    lastSegment = decodeURIComponent(url.pathname.split('/').pop() ?? '');
  } catch {
    return { ok: false, reason: 'callback_url path is not valid' };
  }
  if (lastSegment !== channelId) {
    return { ok: false, reason: 'callback_url does not end with the delivery channel_id' };
  }
  return { ok: true, url };
}

/** IP literals in the allowlist: the only private addresses the connect-time guard lets through. */
export function allowlistedAddresses(policy: CallbackUrlPolicy): string[] {
  return policy.allowedHosts.map(bare).filter((host) => isIP(host) !== 0);
}
