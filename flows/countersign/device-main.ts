/**
 * A device as a program of its own, for the relay to start (`npm run relay -- ... -- tsx
 * flows/countersign/device-main.ts device.json`): it speaks to the relay over its stdin and stdout
 * only (flows/countersign/channel.ts) and reports its outcome on stderr as one JSON line.
 *
 * device.json: `{ app, sub, key: <private P-256 JWK>, pinned: [<broker's public signing JWKs>],
 * operation, params, level, password?, passwordKey?: <broker's public encryption JWK>, probe? }`.
 * `probe`, when given, is a URL the device tries to reach first and reports as `probe`
 * (`reachable` or `unreachable`): the test of the offline path checks that it had no route.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Application } from '../../protocol/countersign.ts';
import { lineChannel } from './channel.ts';
import { Device, deviceKeyFromPrivateJwk, type PasswordKey } from './device.ts';

interface DeviceFile {
  app: string;
  sub: string;
  key: JsonWebKey;
  pinned: (JsonWebKey & { kid: string })[];
  operation: Application['operation'];
  params: Record<string, string>;
  level?: 1 | 2;
  password?: string;
  passwordKey?: JsonWebKey & { kid: string; alg: PasswordKey['alg'] };
  probe?: string;
}

async function probe(url: string): Promise<'reachable' | 'unreachable'> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(3000) });
    return 'reachable';
  } catch {
    return 'unreachable';
  }
}

async function main(file: string): Promise<void> {
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as DeviceFile;
  const reached = cfg.probe ? await probe(cfg.probe) : undefined;
  const pinned = new Map<string, KeyObject>(cfg.pinned.map((j) => [j.kid, createPublicKey({ key: { kty: j.kty, crv: j.crv, x: j.x, y: j.y }, format: 'jwk' })]));
  const device = new Device({
    app: cfg.app, sub: cfg.sub, key: deviceKeyFromPrivateJwk(cfg.key), pinned: (kid) => pinned.get(kid),
    ...(cfg.password && cfg.passwordKey && {
      password: { value: cfg.password, key: { kid: cfg.passwordKey.kid, alg: cfg.passwordKey.alg, publicKey: createPublicKey({ key: cfg.passwordKey, format: 'jwk' }) } },
    }),
  });
  const result = await device.authorize(lineChannel(process.stdin, process.stdout), device.application(cfg.operation, cfg.params, cfg.level ?? 1));
  process.stderr.write(`${JSON.stringify({ type: 'done', probe: reached, status: result.status, code: result.code, grant: result.grant })}\n`);
  process.stdin.destroy();
}

main(process.argv[2] ?? '').catch((err: Error) => {
  process.stderr.write(`${JSON.stringify({ type: 'error', message: err.message })}\n`);
  process.exitCode = 1;
});
