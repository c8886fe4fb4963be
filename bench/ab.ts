/**
 * `npx tsx bench/ab.ts`: short A/B micro-runs of the changes of issue 16, each pair interleaved in
 * one process (A, B, A, B, … in 200 ms slices, 7 slices each) so that the machine's load hits both
 * alike; prints the median ops/s of each and the ratio B/A. Not part of `npm run bench`.
 */
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, webcrypto } from 'node:crypto';
import { openSync } from 'node:fs';
import { pino } from 'pino';
import { parseDictionary, serializeInnerList, type InnerList } from 'structured-headers';
import { ecdhEsSharedSecret } from '../platform/crypto/jwe.ts';
import { parseSignature, rawDictionaryMembers, signRequest } from '../platform/http/signature.ts';
import { REDACT_PATHS } from '../system/logger.ts';

const SLICE_MS = 200;
const SLICES = 7;

function slice(fn: () => void): number {
  let n = 0;
  const end = process.hrtime.bigint() + BigInt(SLICE_MS) * 1_000_000n;
  const start = process.hrtime.bigint();
  let now = start;
  while (now < end) {
    for (let i = 0; i < 10; i++) fn();
    n += 10;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

async function sliceAsync(fn: () => Promise<unknown>, concurrency = 8): Promise<number> {
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(SLICE_MS) * 1_000_000n;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (process.hrtime.bigint() < end) {
      await fn();
      n++;
    }
  }));
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function ab(name: string, a: [string, () => unknown], b: [string, () => unknown], async = false): Promise<void> {
  const ra: number[] = [];
  const rb: number[] = [];
  for (let i = 0; i < 20; i++) {
    a[1]();
    b[1]();
  }
  for (let i = 0; i < SLICES; i++) {
    ra.push(async ? await sliceAsync(a[1] as () => Promise<unknown>) : slice(a[1]));
    rb.push(async ? await sliceAsync(b[1] as () => Promise<unknown>) : slice(b[1]));
  }
  const [ma, mb] = [median(ra), median(rb)];
  process.stdout.write(`${name}\n  A ${a[0]}: ${Math.round(ma)} ops/s (${Math.round(Math.min(...ra))}-${Math.round(Math.max(...ra))})\n  B ${b[0]}: ${Math.round(mb)} ops/s (${Math.round(Math.min(...rb))}-${Math.round(Math.max(...rb))})\n  B/A ${(mb / ma).toFixed(2)}\n`);
}

// 1. @signature-params: re-serialised (before) vs taken as sent (now).
const sig = signRequest({ method: 'POST', targetUri: 'https://gw.example/v1/access-tokens', headers: { 'content-type': 'application/json' }, body: '{"userId":"alice","productId":"city-pass"}', keyId: 'demo-app', secret: 's'.repeat(32) });
const input = sig['signature-input'];
await ab('@signature-params line of a parsed Signature-Input',
  ['serializeInnerList of the parsed member', () => serializeInnerList(parseDictionary(input).get('sig1') as InnerList)],
  ['the member as sent (rawDictionaryMembers)', () => (parseDictionary(input), rawDictionaryMembers(input).get('sig1'))]);
await ab('parseSignature whole (now), for scale', ['parseSignature', () => parseSignature(input, sig.signature)], ['parseSignature', () => parseSignature(input, sig.signature)]);

// 2. The ECDH-ES derive of an envelope: P-256 vs X25519 through ecdhEsSharedSecret (epk as JWK).
const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const x25519 = generateKeyPairSync('x25519');
const { kid: _a, ...p256Epk } = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' }) as Record<string, string>;
const { kid: _b, ...xEpk } = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }) as Record<string, string>;
await ab('ECDH-ES derive from an epk, on the event loop',
  ['P-256 (ECDH context, computeSecret)', () => ecdhEsSharedSecret(p256.privateKey, p256Epk)],
  ['X25519 (createPublicKey from the JWK, diffieHellman)', () => ecdhEsSharedSecret(x25519.privateKey, xEpk)]);

// 3. Off the event loop: the X25519 derive in libuv's thread pool (WebCrypto deriveBits) vs inline.
const wcPriv = await webcrypto.subtle.importKey('pkcs8', x25519.privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'X25519' }, false, ['deriveBits']);
const xPub = createPublicKey({ key: xEpk as never, format: 'jwk' });
const wcPub = await webcrypto.subtle.importKey('jwk', xEpk, { name: 'X25519' }, true, []);
await ab('X25519 derive, 8 in flight',
  ['inline diffieHellman', async () => diffieHellman({ privateKey: x25519.privateKey, publicKey: xPub })],
  ['WebCrypto deriveBits (thread pool)', () => webcrypto.subtle.deriveBits({ name: 'X25519', public: wcPub }, wcPriv, 256)], true);
const ecdh = createECDH('prime256v1');
ecdh.setPrivateKey(Buffer.from((p256.privateKey.export({ format: 'jwk' }) as { d: string }).d, 'base64url'));
const pPoint = Buffer.concat([Buffer.from([4]), Buffer.from(p256Epk.x!, 'base64url'), Buffer.from(p256Epk.y!, 'base64url')]);
const wcP256 = await webcrypto.subtle.importKey('pkcs8', p256.privateKey.export({ type: 'pkcs8', format: 'der' }), { name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
const wcP256Pub = await webcrypto.subtle.importKey('jwk', p256Epk, { name: 'ECDH', namedCurve: 'P-256' }, true, []);
await ab('P-256 derive, 8 in flight',
  ['inline computeSecret', async () => ecdh.computeSecret(pPoint)],
  ['WebCrypto deriveBits (thread pool)', () => webcrypto.subtle.deriveBits({ name: 'ECDH', public: wcP256Pub }, wcP256, 256)], true);

// 4. A request log line: pino as configured (redaction, synchronous write) vs pino's cheapest.
const devnull = openSync('/dev/null', 'w');
const configured = pino({ name: 'gateway', level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ fd: devnull, sync: true }));
const noRedact = pino({ name: 'gateway', level: 'info' }, pino.destination({ fd: devnull, sync: true }));
const asyncDest = pino({ name: 'gateway', level: 'info', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination({ fd: devnull, sync: false, minLength: 4096 }));
const line = () => ({ reqId: '6f1c1d1e-6b1c-4c1a-9a57-0d7d2c3f6a11', method: 'POST', path: '/v1/access-tokens', status: 201, ms: 1.23 });
await ab('a request log line', ['redaction, sync write (as configured)', () => configured.info(line(), 'request')], ['no redaction, sync write', () => noRedact.info(line(), 'request')]);
await ab('a request log line', ['redaction, sync write (as configured)', () => configured.info(line(), 'request')], ['redaction, buffered async write (4 KiB)', () => asyncDest.info(line(), 'request')]);
