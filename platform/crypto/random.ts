/**
 * Random bytes for the hot paths (token values, IVs, content keys, jtis), drawn from a pool that
 * one call to the CSPRNG fills, as Node does for randomUUID. Each call to crypto.randomBytes costs
 * a trip into OpenSSL of several microseconds; an AT issuance needs three draws, an exchange
 * three more. The bytes are the same CSPRNG output; each is handed out once and wiped from the pool.
 */
import { randomBytes, randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
/** Draws larger than this go straight to the CSPRNG. */
const MAX_POOLED = 256;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

/** `n` fresh random bytes in a Buffer of their own. */
export function randomBytesPooled(n: number): Buffer {
  if (n > MAX_POOLED) return randomBytes(n);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.allocUnsafe(n);
  pool.copy(out, 0, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
