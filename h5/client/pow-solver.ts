/**
 * The proof-of-work search of ALTCHA's v1 format: the number n, 0 <= n <= maxnumber, with
 * SHA-256(salt + n) = challenge. Run in slices so that a caller can report progress (and, on the
 * main thread, let the page paint between slices).
 */
import { sha256Hex, utf8 } from './sha256.ts';

/** An ALTCHA v1 challenge as the gateway sends it (`altcha` in a `pow_required` problem). */
export interface AltchaChallenge {
  algorithm: 'SHA-256';
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

export function isAltchaChallenge(v: unknown): v is AltchaChallenge {
  const c = v as Record<string, unknown> | null;
  return !!c && c.algorithm === 'SHA-256' && typeof c.challenge === 'string' && /^[0-9a-f]{64}$/.test(c.challenge)
    && typeof c.salt === 'string' && c.salt.length <= 1024 && typeof c.signature === 'string'
    && typeof c.maxnumber === 'number' && Number.isSafeInteger(c.maxnumber) && c.maxnumber > 0 && c.maxnumber <= 100_000_000;
}

/** How many numbers one slice tries. */
export const SLICE = 5000;

/** Tries `from`..min(from + SLICE - 1, maxnumber); the solution, or -1. */
export function searchSlice(c: Pick<AltchaChallenge, 'challenge' | 'salt' | 'maxnumber'>, from: number): number {
  const salt = utf8(c.salt);
  const buf = new Uint8Array(salt.length + 16);
  buf.set(salt);
  const end = Math.min(from + SLICE - 1, c.maxnumber);
  for (let n = from; n <= end; n++) {
    const digits = String(n);
    for (let i = 0; i < digits.length; i++) buf[salt.length + i] = digits.charCodeAt(i);
    if (sha256Hex(buf.subarray(0, salt.length + digits.length)) === c.challenge) return n;
  }
  return -1;
}

/** The payload a solution is sent as (`Broker-PoW`): base64 of ALTCHA v1's JSON. */
export function solutionPayload(c: AltchaChallenge, number: number, took: number): string {
  return btoa(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge, number, salt: c.salt, signature: c.signature, took }));
}
