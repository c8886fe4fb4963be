/**
 * The page's own key (protocol sections 2 and 3): ECDSA P-256 made by WebCrypto with
 * `extractable: false`, so its private half can sign here and cannot be read out, not even by this
 * page's own script. Shared by the boot script (boot.ts), which makes it before the exchange, and
 * the session chunk (session.ts), which makes it where the boot did not run.
 */
import { b64uEncode, utf8Encode, type PageKey } from './jwe-compact.ts';

const ES256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export async function createPageKey(): Promise<PageKey> {
  const pair = (await crypto.subtle.generateKey(ES256, false, ['sign'])) as CryptoKeyPair;
  const pub = await crypto.subtle.exportKey('jwk', pair.publicKey);
  if (typeof pub.x !== 'string' || typeof pub.y !== 'string') throw new Error('no public key');
  return { privateKey: pair.privateKey, jwk: { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y } };
}

/**
 * A DPoP proof (RFC 9449) of the page's key for one call with `vt`: `typ: dpop+jwt`, ES256, the
 * key's public JWK; `jti`, `htm`, `htu` (without query or fragment), `iat`, `ath`. Here rather than
 * in the session chunk so that app.js can sign without it (a chunk that failed to load must not
 * strand a VT whose AT is spent).
 */
export async function signDpopProof(key: PageKey, method: string, url: string, vt: string): Promise<string> {
  const header = b64uEncode(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk }));
  const ath = b64uEncode(new Uint8Array(await crypto.subtle.digest('SHA-256', utf8Encode(vt))));
  const jti = b64uEncode(crypto.getRandomValues(new Uint8Array(16)));
  const payload = b64uEncode(JSON.stringify({ jti, htm: method, htu: url.split(/[?#]/)[0], iat: Math.floor(Date.now() / 1000), ath }));
  const input = `${header}.${payload}`;
  // WebCrypto's ECDSA signature is r || s, 64 bytes: JWS's ES256 form as it is.
  const signature = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, utf8Encode(input));
  return `${input}.${b64uEncode(new Uint8Array(signature))}`;
}
