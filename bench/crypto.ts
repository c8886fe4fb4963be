/** The hard limit of one core: raw node:crypto ops/s of the private-key operation each exchange needs. */
import { constants, createPublicKey, diffieHellman, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, createCipheriv } from 'node:crypto';

function opsPerSecond(fn: () => void, ms: number): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

export interface CryptoLimits {
  rsa2048OaepDecrypt: number;
  ecdhP256Derive: number;
  x25519Derive: number;
  aes256GcmSeal1k: number;
}

/** The median of each limit over several rounds. */
export function medianCrypto(rounds: readonly CryptoLimits[]): CryptoLimits {
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const keys = Object.keys(rounds[0]!) as (keyof CryptoLimits)[];
  return Object.fromEntries(keys.map((k) => [k, med(rounds.map((r) => r[k]))])) as unknown as CryptoLimits;
}

export function measureCrypto(ms = 1500): CryptoLimits {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ct = publicEncrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, randomBytes(32));
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const eph = createPublicKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const x = generateKeyPairSync('x25519');
  const xEph = createPublicKey(generateKeyPairSync('x25519').privateKey);
  const key = randomBytes(32);
  const data = randomBytes(1024);
  return {
    rsa2048OaepDecrypt: opsPerSecond(() => privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, ct), ms),
    ecdhP256Derive: opsPerSecond(() => diffieHellman({ privateKey: ec.privateKey, publicKey: eph }), ms),
    x25519Derive: opsPerSecond(() => diffieHellman({ privateKey: x.privateKey, publicKey: xEph }), ms),
    aes256GcmSeal1k: opsPerSecond(() => {
      const c = createCipheriv('aes-256-gcm', key, randomBytes(12));
      c.update(data);
      c.final();
      c.getAuthTag();
    }, ms),
  };
}
