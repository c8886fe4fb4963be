/**
 * The page's own key (protocol sections 2 and 3): ECDSA P-256 made by WebCrypto with
 * `extractable: false`, so its private half can sign here and cannot be read out, not even by this
 * page's own script. Shared by the boot script (boot.ts), which makes it before the exchange, and
 * the session chunk (session.ts), which makes it where the boot did not run.
 */
import type { PageKey } from './jwe-compact.ts';

const ES256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

export async function createPageKey(): Promise<PageKey> {
  const pair = (await crypto.subtle.generateKey(ES256, false, ['sign'])) as CryptoKeyPair;
  const pub = await crypto.subtle.exportKey('jwk', pair.publicKey);
  if (typeof pub.x !== 'string' || typeof pub.y !== 'string') throw new Error('no public key');
  return { privateKey: pair.privateKey, jwk: { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y } };
}
