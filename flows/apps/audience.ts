/**
 * The external audience a third party may bind a VT to (the AT request's `audience`, and the
 * registry's per-app `audiences`): the address of the partner server the token is for. It goes
 * into the VT's `aud` exactly as written, because a JWT audience is compared as a string (RFC 7519
 * section 4.1.3): the partner configures its verifier with the same string.
 */

/** Longest audience accepted, in characters. */
export const MAX_AUDIENCE_LENGTH = 256;

/** Visible ASCII only: no spaces, tabs or line breaks that a URL parser would quietly drop. */
const VISIBLE_ASCII_RE = /^[\x21-\x7e]+$/;

/** Host names that reach only this machine; plain http is allowed for them outside production. */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/**
 * Why `value` is not a usable audience, or undefined when it is one: an absolute `https` URL of at
 * most 256 visible ASCII characters, without credentials or a fragment, written exactly as the
 * URL standard serialises it (`new URL(value).href === value`: a lower-case host, a path of at
 * least `/`, no backslash, no default port); `http` only for a loopback
 * host (`localhost`, `127.0.0.0/8`, `[::1]`) and only when `allowLoopbackHttp` (development).
 */
export function audienceProblem(value: unknown, opts: { allowLoopbackHttp: boolean }): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_AUDIENCE_LENGTH || !VISIBLE_ASCII_RE.test(value)) {
    return `must be an absolute URL of 1-${MAX_AUDIENCE_LENGTH} visible ASCII characters`;
  }
  // Written out in full, as the URL standard would: `https:partner.example` parses, but a partner
  // comparing strings would never configure it.
  if (!/^[a-z][a-z0-9+.-]*:\/\/[^/]/.test(value)) return 'must be an absolute URL like https://partner.example/api';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL like https://partner.example/api';
  }
  if (url.username || url.password || value.includes('#')) return 'must not carry credentials or a fragment';
  // Parsers differ on the odd spellings (`https://a.example\\@b.example/` is a.example to the URL
  // standard and b.example to others): only the form the URL standard writes back is accepted.
  if (url.href !== value) return `must be written as the URL standard serialises it (${JSON.stringify(url.href).slice(0, 80)})`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname) && opts.allowLoopbackHttp) return undefined;
  return 'must use https (http is allowed only for loopback hosts in development)';
}
