/**
 * Fixture generator: ATs and VTs written straight into the store in the format auth writes, and
 * envelopes sealed the way an H5 page seals them, so the exchange benchmark measures the exchange.
 */
import { createCipheriv, diffieHellman, generateKeyPairSync, randomBytes } from 'node:crypto';
import { aesKeyWrap, b64u, concatKdf, encryptCompact } from '../platform/crypto/jwe.ts';
import type { EncryptionKey, SigningKey } from '../flows/keys/keys.ts';
import type { TokenStore } from '../platform/store/index.ts';
import { atKey, type AccessTokenRecord } from '../flows/access-token/records.ts';
import { newOpaqueToken, tokenHash } from '../platform/crypto/opaque.ts';
import { nowSeconds } from '../platform/time.ts';
import { redeemedKey, signVisitToken, vtKey, type VisitTokenRecord } from '../flows/visit-token/records.ts';

const BATCH = 2000;

async function writeAll(store: TokenStore, entries: [string, string][], ttl: number): Promise<void> {
  for (let i = 0; i < entries.length; i += BATCH) {
    await Promise.all(entries.slice(i, i + BATCH).map(([k, v]) => store.setIfAbsent(k, v, ttl)));
  }
}

/** Writes `n` live ATs for one app, user and product; returns the ATs. */
export async function makeAccessTokens(store: TokenStore, n: number, who: { appId: string; userId: string; productId: string }, ttl = 900): Promise<string[]> {
  const exp = nowSeconds() + ttl;
  const ats = Array.from({ length: n }, newOpaqueToken);
  const record = JSON.stringify({ typ: 'at', ...who, exp } satisfies AccessTokenRecord);
  await writeAll(store, ats.map((at) => [atKey(tokenHash(at)), record]), ttl);
  return ats;
}

/**
 * Makes used ATs live again (same records), so one set of envelopes serves several runs: sealing
 * is the slow part of making fixtures, and the server's work per exchange is the same.
 */
export async function rearmAccessTokens(store: TokenStore, ats: readonly string[], who: { appId: string; userId: string; productId: string }, ttl = 900): Promise<void> {
  const record = JSON.stringify({ typ: 'at', ...who, exp: nowSeconds() + ttl } satisfies AccessTokenRecord);
  for (let i = 0; i < ats.length; i += BATCH) {
    await Promise.all(ats.slice(i, i + BATCH).map(async (at) => {
      await store.delete(atKey(tokenHash(at)));
      // The copy a redeem keeps for the page's retry would make the next redeem a collision.
      await store.delete(redeemedKey(tokenHash(at)));
      await store.setIfAbsent(atKey(tokenHash(at)), record, ttl);
    }));
  }
}

/** Signs `n` VTs as auth does and writes their liveness records; returns the VTs. */
export async function makeVisitTokens(
  store: TokenStore, n: number, who: { appId: string; userId: string; productId: string }, signing: { key: SigningKey; issuer: string }, ttl = 900,
): Promise<string[]> {
  const now = nowSeconds();
  const record = JSON.stringify({ typ: 'vt', ...who, iat: now, exp: now + ttl } satisfies VisitTokenRecord);
  const signed = Array.from({ length: n }, () => signVisitToken(signing.key, { issuer: signing.issuer, ...who, ttlSeconds: ttl, now }));
  await writeAll(store, signed.map(({ claims }) => [vtKey(claims.jti), record]), ttl);
  return signed.map(({ vt }) => vt);
}

/**
 * ECDH-ES+A256KW envelopes (P-256 or X25519, the key's curve), fast: one ephemeral key serves `perEphemeral` envelopes (each with its
 * own R and IV). The server's work per envelope is the same as for a page's fresh ephemeral key
 * (it derives Z from the epk every time); only the generator saves its key generation.
 */
function sealEcdhEnvelopes(ats: readonly string[], key: EncryptionKey, perEphemeral = 200): string[] {
  const iat = nowSeconds();
  const out: string[] = [];
  for (let i = 0; i < ats.length; i += perEphemeral) {
    const x25519 = key.kind === 'X25519';
    const eph = x25519 ? generateKeyPairSync('x25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { x, y } = eph.publicKey.export({ format: 'jwk' }) as { x: string; y: string };
    const epk = x25519 ? { kty: 'OKP', crv: 'X25519', x } : { kty: 'EC', crv: 'P-256', x, y };
    const header = { alg: 'ECDH-ES+A256KW', enc: 'A256GCM', kid: key.kid, epk };
    const protectedB64 = b64u(JSON.stringify(header));
    const kek = concatKdf(diffieHellman({ privateKey: eph.privateKey, publicKey: key.publicKey }), 256, 'ECDH-ES+A256KW');
    for (const at of ats.slice(i, i + perEphemeral)) {
      const r = randomBytes(32);
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', r, iv);
      c.setAAD(Buffer.from(protectedB64, 'ascii'));
      const ct = Buffer.concat([c.update(JSON.stringify({ at, iat })), c.final()]);
      out.push([protectedB64, b64u(aesKeyWrap(kek, r)), b64u(iv), b64u(ct), b64u(c.getAuthTag())].join('.'));
    }
  }
  return out;
}

/** Seals each AT in an envelope to `key`, as the H5 page does (a fresh R each). */
export function sealEnvelopes(ats: readonly string[], key: EncryptionKey): string[] {
  if (key.publicJwk.alg === 'ECDH-ES+A256KW') return sealEcdhEnvelopes(ats, key);
  const iat = nowSeconds();
  return ats.map((at) =>
    encryptCompact({
      header: { alg: key.publicJwk.alg as 'RSA-OAEP-256', enc: 'A256GCM', kid: key.kid },
      plaintext: JSON.stringify({ at, iat }),
      key: key.publicKey,
      cek: randomBytes(32),
    }),
  );
}
