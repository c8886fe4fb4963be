/**
 * What the proof-of-work gate (flows/challenge) costs the gateway per request, on one core, with
 * the in-memory store (so the figures are the gate's own work; on Redis add one round trip each):
 * issuing a challenge (HMAC + SHA-256, no store step), checking a solution (payload parse, HMAC,
 * SHA-256, one set-if-absent), checking a pass (HMAC, one store read). Run alone with
 * `npx tsx bench/challenge.ts`; `npm run bench` includes it in the report.
 */
import { createHash } from 'node:crypto';
import { MemoryStore } from '../platform/store/index.ts';
import { createChallenge, verifySolution, type AltchaChallenge } from '../flows/challenge/altcha.ts';
import { createSecretRing } from '../flows/challenge/records.ts';
import { checkPass, signPass } from '../flows/challenge/pass.ts';
import { passKey } from '../flows/challenge/records.ts';
import { nowSeconds } from '../platform/time.ts';

export interface ChallengeCosts {
  /** Microseconds per operation. */
  issueChallengeUs: number;
  checkSolutionUs: number;
  checkPassUs: number;
}

async function usPerOp(n: number, fn: (i: number) => unknown): Promise<number> {
  for (let i = 0; i < Math.min(50, n); i++) await fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await fn(i);
  return Number(process.hrtime.bigint() - start) / 1000 / n;
}

function solve(c: AltchaChallenge): number {
  for (let n = 0; n <= c.maxnumber; n++) if (createHash('sha256').update(c.salt + n).digest('hex') === c.challenge) return n;
  throw new Error('no solution');
}

export async function measureChallenge(n = 5000): Promise<ChallengeCosts> {
  const store = new MemoryStore();
  try {
    const secrets = createSecretRing(store);
    const now = nowSeconds();
    const keys = await secrets.current(now);
    const binding = { method: 'POST', path: '/v1/visit-tokens' };
    const issueChallengeUs = await usPerOp(n, () => createChallenge(keys, binding, 100_000, now + 300));
    // Solutions to check, each spent once: small maxnumber so that making them is quick (the
    // check costs the same whatever the difficulty: one hash).
    const payloads = Array.from({ length: n + 50 }, () => {
      const c = createChallenge(keys, binding, 50, now + 300);
      return Buffer.from(JSON.stringify({ algorithm: c.algorithm, challenge: c.challenge, number: solve(c), salt: c.salt, signature: c.signature })).toString('base64');
    });
    let refused = 0;
    let next = 0;
    const checkSolutionUs = await usPerOp(n, async () => {
      if (!(await verifySolution(store, secrets, payloads[next++]!, binding, now)).ok) refused++;
    });
    const origin = 'https://h5.example';
    const claims = { sid: 'bench-sid-0123456789ab', sub: 'pairwise-0123456789abc', app: 'demo-app', org: origin, jkt: 'x'.repeat(43), auth: now, iat: now, exp: now + 300 };
    await store.setIfAbsent(passKey(claims.sid), JSON.stringify({ typ: 'pass', app: claims.app, sub: claims.sub, jkt: claims.jkt, org: origin, auth: now }), 600);
    const { pass } = await signPass(secrets, claims, now);
    const checkPassUs = await usPerOp(n, async () => {
      if (!(await checkPass(store, secrets, pass, origin, now)).ok) refused++;
    });
    if (refused > 0) throw new Error(`${refused} checks refused: the bench measures the wrong path`);
    return { issueChallengeUs, checkSolutionUs, checkPassUs };
  } finally {
    await store.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const costs = await measureChallenge();
  console.log(Object.entries(costs).map(([k, v]) => `${k}: ${v.toFixed(1)} µs`).join('\n'));
}
