/**
 * HOTP (RFC 4226) and TOTP (RFC 6238) on node:crypto, with the base32 of the `otpauth://` URI.
 * The flow uses SHA-1, 6 digits, 30 s steps (what stock authenticator apps do); the other
 * algorithms and lengths are here so that RFC 6238 Appendix B's vectors can be checked.
 */
import { createHmac } from 'node:crypto';

export type TotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

export const TOTP_STEP_SECONDS = 30;
export const TOTP_DIGITS = 6;

/** RFC 4226 section 5.3: dynamic truncation of HMAC(key, counter) to `digits` decimal digits. */
export function hotp(key: Uint8Array, counter: number, digits = TOTP_DIGITS, algorithm: TotpAlgorithm = 'sha1'): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, key).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const bin = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** The time step of unix time `seconds`. */
export function timeStep(seconds: number, step = TOTP_STEP_SECONDS): number {
  return Math.floor(seconds / step);
}

/** RFC 6238: the code at unix time `seconds`. */
export function totp(key: Uint8Array, seconds: number, opts: { digits?: number; algorithm?: TotpAlgorithm; step?: number } = {}): string {
  return hotp(key, timeStep(seconds, opts.step), opts.digits, opts.algorithm);
}

const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (as `otpauth://` URIs carry secrets). */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

/** The key-uri format of stock authenticator apps: `otpauth://totp/<issuer>:<account>?secret=...`. */
export function otpauthUri(key: Uint8Array, opts: { issuer: string; account: string }): string {
  const label = `${encodeURIComponent(opts.issuer)}:${encodeURIComponent(opts.account)}`;
  const q = new URLSearchParams({ secret: base32(key), issuer: opts.issuer, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_STEP_SECONDS) });
  return `otpauth://totp/${label}?${q.toString()}`;
}

/**
 * The time step of `code` within one step either way of `seconds` (the earliest that matches), or
 * undefined. Each candidate is compared in constant time.
 */
export function matchingStep(key: Uint8Array, code: string, seconds: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const now = timeStep(seconds);
  let found: number | undefined;
  for (const s of [now - 1, now, now + 1]) {
    const expected = Buffer.from(hotp(key, s));
    const ok = expected.length === code.length && timingSafeEqualText(expected, Buffer.from(code));
    if (ok && found === undefined) found = s;
  }
  return found;
}

function timingSafeEqualText(a: Buffer, b: Buffer): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
