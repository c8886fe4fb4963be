/**
 * The binding flow's records in the store and its keys. Every key starts with `bind:`; secrets
 * (links, stream tickets) are stored under their SHA-256 only, and a token key only sealed
 * (AES-256-GCM under a key derived from BINDING_KEK, bound to its account by the AAD).
 *
 * One binding (`<bid>`, 128 random bits) moves through its states by single-use steps:
 *   created    `bind:s:<bid>` (the session) and `bind:link:<H(link)>` (setIfAbsent, TTL)
 *   scanned    the phone's request consumes the link; companion `bind:scanned:<bid>` {ts, hash}
 *   confirmed  the page's confirmation consumes `bind:scanned:<bid>`; companion `bind:confirmed:<bid>`
 *   bound      consuming `bind:confirmed:<bid>` (one winner), then the account record
 *              `bind:acct:<A>` is written by setIfUnchanged against what it was at creation
 *   expired / refused / bound: `bind:end:<bid>` (setIfAbsent: the first end wins)
 */
import { createCipheriv, createDecipheriv, createECDH, createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync, type KeyObject } from 'node:crypto';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import { ecThumbprint } from '../keys/keys.ts';
import type { TokenStore } from '../../platform/store/index.ts';

/** The token key: 160 bits, as RFC 4226 recommends for HMAC-SHA-1. */
export const TOKEN_KEY_BYTES = 20;
/** The certificate link: 144 random bits (24 base64url characters). */
export const LINK_BYTES = 18;
export const LINK_RE = /^[A-Za-z0-9_-]{24}$/;
export const BINDING_ID_RE = /^[A-Za-z0-9_-]{22}$/;
export const TICKET_RE = /^[A-Za-z0-9_-]{43}$/;
export const HASH_RE = /^[A-Za-z0-9_-]{43}$/;
/** How long an end state is kept after the binding's TTL, for a late poll or a resumed stream (s). */
export const END_TTL_SECONDS = 300;

export const sha256 = (s: string | Uint8Array): string => createHash('sha256').update(s).digest('base64url');
export const hmac = (key: Uint8Array, data: Uint8Array): string => createHmac('sha256', key).update(data).digest('base64url');

/** The account a VT names, as the phone's hash covers it: `<app>:<user>`. */
export function accountName(app: string, sub: string): string {
  return `${app}:${sub}`;
}

/** The store key part of an account (a hash: user ids may contain any character). */
export function accountId(app: string, sub: string): string {
  return sha256(JSON.stringify([app, sub]));
}

export const keys = {
  session: (bid: string) => `bind:s:${bid}`,
  link: (link: string) => `bind:link:${sha256(link)}`,
  ticket: (ticket: string) => `bind:ticket:${sha256(ticket)}`,
  scanned: (bid: string) => `bind:scanned:${bid}`,
  confirmed: (bid: string) => `bind:confirmed:${bid}`,
  end: (bid: string) => `bind:end:${bid}`,
  poll: (bid: string) => `bind:poll:${bid}`,
  account: (acct: string) => `bind:acct:${acct}`,
  lastStep: (acct: string, bid: string) => `bind:last:${acct}:${bid}`,
  channel: (bid: string) => `binding:${bid}`,
};

/** `bind:s:<bid>`: who asked, the sealed first key, and the account record as it was then. */
export interface SessionRecord {
  app: string;
  sub: string;
  /** The sealed token key. */
  key: string;
  /** The store key of the certificate link (its hash: not the link). */
  link: string;
  /** The account record's exact text at creation (null: unbound): the bind is a compare-and-set against it. */
  prev: string | null;
  /** Unix s. */
  exp: number;
}

/** `bind:scanned:<bid>` and `bind:confirmed:<bid>`: the phone's timestamp and hash. */
export interface ScanRecord {
  ts: number;
  hash: string;
  exp: number;
}

/** `bind:end:<bid>`. */
export interface EndRecord {
  state: 'bound' | 'refused' | 'expired';
  receipt?: string;
  /** Whose binding it was (a poll or a stream of another account learns nothing). */
  app?: string;
  sub?: string;
}

/** `bind:acct:<A>`: the bound key of an account, sealed. */
export interface AccountRecord {
  bid: string;
  key: string;
  boundAt: number;
}

/** The flow's two keys, both derived from BINDING_KEK: one seals token keys, one signs receipts (ES256). */
export interface BindingKeys {
  seal(key: Uint8Array, acct: string): string;
  /** The token key, or undefined when the sealed text does not open (another KEK, another account). */
  open(sealed: string, acct: string): Buffer | undefined;
  receiptKey: KeyObject;
  receiptPublicKey: KeyObject;
  receiptKid: string;
  receiptJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string; kid: string; use: 'sig'; alg: 'ES256' };
}

/** BINDING_KEK's default: derived from the internal credential, which every gateway shares. */
export function deriveBindingKek(internalToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', internalToken, 'h5b', 'binding kek v1', 32));
}

export function createBindingKeys(kek: Buffer): BindingKeys {
  const wrap = Buffer.from(hkdfSync('sha256', kek, 'h5b', 'binding token-key seal v1', 32));
  // The receipt key: a P-256 scalar from HKDF (below the group order with overwhelming odds; a
  // counter picks the next output in the astronomically unlikely other case).
  let d: Buffer | undefined;
  const order = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  for (let i = 0; !d; i++) {
    const c = Buffer.from(hkdfSync('sha256', kek, 'h5b', `binding receipt key v1 ${i}`, 32));
    const n = BigInt(`0x${c.toString('hex')}`);
    if (n > 0n && n < order) d = c;
  }
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(d);
  const pub = ecdh.getPublicKey();
  const x = pub.subarray(1, 33).toString('base64url');
  const y = pub.subarray(33, 65).toString('base64url');
  const receiptKey = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x, y, d: d.toString('base64url') }, format: 'jwk' });
  const receiptPublicKey = createPublicKey(receiptKey);
  const kid = ecThumbprint({ crv: 'P-256', x, y });
  return {
    seal(key, acct) {
      const iv = randomBytesPooled(12);
      const c = createCipheriv('aes-256-gcm', wrap, iv);
      c.setAAD(Buffer.from(`bind-key:${acct}`));
      const ct = Buffer.concat([c.update(key), c.final()]);
      return ['v1', iv.toString('base64url'), ct.toString('base64url'), c.getAuthTag().toString('base64url')].join('.');
    },
    open(sealed, acct) {
      const [v, iv, ct, tag] = sealed.split('.');
      if (v !== 'v1' || !iv || !ct || !tag) return undefined;
      try {
        const dc = createDecipheriv('aes-256-gcm', wrap, Buffer.from(iv, 'base64url'));
        dc.setAAD(Buffer.from(`bind-key:${acct}`));
        dc.setAuthTag(Buffer.from(tag, 'base64url'));
        return Buffer.concat([dc.update(Buffer.from(ct, 'base64url')), dc.final()]);
      } catch {
        return undefined;
      }
    },
    receiptKey,
    receiptPublicKey,
    receiptKid: kid,
    receiptJwk: { kty: 'EC', crv: 'P-256', x, y, kid, use: 'sig', alg: 'ES256' },
  };
}

export function parseJson<T>(text: string | null): T | undefined {
  if (!text || text.startsWith('used:')) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** Where one binding stands, read from the store: its end, else scanned (or confirmed), else waiting; undefined: gone. */
export async function readState(store: TokenStore, bid: string): Promise<
  { state: 'bound' | 'refused' | 'expired'; end: EndRecord } | { state: 'scanned' | 'waiting'; scan?: ScanRecord } | undefined
> {
  const end = parseJson<EndRecord>(await store.get(keys.end(bid)));
  if (end) return { state: end.state, end };
  if (!(await store.get(keys.session(bid)))) return undefined;
  const scanned = await store.get(keys.scanned(bid));
  if (scanned === null) return { state: 'waiting' };
  const scan = parseJson<ScanRecord>(scanned) ?? parseJson<ScanRecord>(await store.get(keys.confirmed(bid)));
  return { state: 'scanned', scan };
}
