/**
 * The binding flow's wire pieces that the page, the token app and the gateway share (browser-safe:
 * imports nothing): the length-prefixed input of the phone's keyed hash and of the page's
 * confirmation, the QR payload, and the names of the stream's events.
 */

/** Domain labels: a hash for one purpose never verifies as the other. */
export const SCAN_LABEL = 'h5b-bind-scan-v1';
export const CONFIRM_LABEL = 'h5b-bind-confirm-v1';

/**
 * The bytes an HMAC-SHA-256 covers: each field as a 4-byte big-endian length and its UTF-8 bytes,
 * so that no field can be spliced into the next ("ab" + "c" and "a" + "bc" differ).
 */
export function lengthPrefixed(fields: readonly string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = fields.map((f) => enc.encode(f));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out[at] = (p.length >>> 24) & 0xff;
    out[at + 1] = (p.length >>> 16) & 0xff;
    out[at + 2] = (p.length >>> 8) & 0xff;
    out[at + 3] = p.length & 0xff;
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}

/** What the phone's hash covers: HMAC-SHA-256(token key, scanInput(...)). */
export function scanInput(timestamp: number, link: string, account: string): Uint8Array {
  return lengthPrefixed([SCAN_LABEL, String(timestamp), link, account]);
}

/** What the page's confirmation covers: HMAC-SHA-256(token key, confirmInput(...)). */
export function confirmInput(bindingId: string, phoneHash: string): Uint8Array {
  return lengthPrefixed([CONFIRM_LABEL, bindingId, phoneHash]);
}

/** The QR payload: the fragment of the token app's URL (`#bind=<base64url JSON>`). */
export interface BindingPayload {
  /** Version. */
  v: 1;
  /** The gateway the phone sends its request to. */
  gw: string;
  /** The page's origin, shown by the token app before it sends. */
  origin: string;
  /** The certificate link (base64url, 128 bits or more), single use. */
  link: string;
  /** The first token key (base64url, 160 bits or more). */
  key: string;
  /** The account as the hash covers it: `<app>:<user>`. */
  account: string;
}

function b64urlEncodeText(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function b64urlDecodeText(s: string): string {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** The token app's URL carrying `payload` in its fragment (never sent to any server by a browser). */
export function bindingUri(tokenAppUrl: string, payload: BindingPayload): string {
  return `${tokenAppUrl}#bind=${b64urlEncodeText(JSON.stringify(payload))}`;
}

/** The payload of a token app URL (or of its bare `bind=` fragment); undefined when it is not one. */
export function parseBindingUri(text: string): BindingPayload | undefined {
  const m = /(?:^|#)bind=([A-Za-z0-9_-]+)\s*$/.exec(text.trim());
  if (!m) return undefined;
  try {
    const p = JSON.parse(b64urlDecodeText(m[1]!)) as Partial<BindingPayload>;
    const ok = p.v === 1 && [p.gw, p.origin, p.link, p.key, p.account].every((x) => typeof x === 'string' && x.length > 0 && x.length < 2048);
    return ok ? (p as BindingPayload) : undefined;
  } catch {
    return undefined;
  }
}

/** The account as the token app shows it: the app, and the user with its middle masked. */
export function maskAccount(account: string): string {
  const i = account.indexOf(':');
  const app = account.slice(0, i);
  const user = account.slice(i + 1);
  const shown = user.length <= 4 ? `${user.slice(0, 1)}***` : `${user.slice(0, 2)}***${user.slice(-2)}`;
  return `${shown} @ ${app}`;
}

/** The stream's events, in the order they may come (`expired` and `refused` end it too). */
export const BINDING_EVENTS = ['waiting', 'scanned', 'bound', 'expired', 'refused'] as const;
export type BindingEvent = (typeof BINDING_EVENTS)[number];

/** `typ` of the binding receipt (JWS, ES256, the gateway's binding key: `GET /v1/binding-keys`). */
export const RECEIPT_TYP = 'binding-receipt+jwt';
/** `typ` of a second-factor assertion (same key), passed to a product backend with a marked action. */
export const ASSERTION_TYP = 'second-factor+jwt';
/** The header carrying the assertion from the gateway to the product backend. */
export const SECOND_FACTOR_HEADER = 'x-broker-second-factor';
