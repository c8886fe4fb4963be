/**
 * The relay ("authorization device"): carries an offline device's messages to the broker and
 * back, and takes part in the decision. It authenticates every request with its own registered
 * key (a JWS of typ countersign-relay+jwt over the route, a fresh `iat`, a single-use `jti` and
 * the body), polls as CIBA does (`interval`, `expires_in`, `slow_down` adds 5 s), shows the
 * result, and signs its decision (approve or refuse), which the grant names in its receipt.
 *
 * In-process: `new Relay(...).serve(channel)`. As a program of its own (`npm run relay`), it
 * starts the device as a child process and speaks to it over the child's stdin/stdout only:
 *
 *   npm run relay -- --gateway http://127.0.0.1:8080 --key relay-key.json [--refuse] -- <device command ...>
 *
 * where relay-key.json holds the relay's private P-256 JWK (registered beforehand with the user's
 * VT: `POST /v1/countersign/keys` with `"kind": "relay"`).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import { COUNTERSIGN_PATHS, DECISION_TYP, RELAY_REQUEST_TYP, type CountersignOp } from '../../protocol/countersign.ts';
import { lineChannel, type Channel } from './channel.ts';
import { deviceKeyFromPrivateJwk, type DeviceKey } from './device.ts';
import { es256Sign, sha256b64u } from './jws.ts';

/** A problem answer of the broker, as the relay sees it. */
export class BrokerRefusal extends Error {
  constructor(readonly code: string, readonly status: number, readonly body: Record<string, unknown>) {
    super(`${status} ${code}`);
    this.name = 'BrokerRefusal';
  }
}

export interface RelayOptions {
  /** The gateway's base URL. */
  gateway: string;
  key: DeviceKey;
  /** What the relay's user sees once the countersignature verified; true approves. Default: approve. */
  decide?: (shown: { operation?: string; amount?: string; currency?: string; payee?: string; level?: number; status: string }) => boolean | Promise<boolean>;
  /** Seconds to wait (tests pass a shorter sleep); default real time. */
  sleep?: (seconds: number) => Promise<void>;
  now?: () => number;
}

const sleepReal = (s: number) => new Promise<void>((resolve) => setTimeout(resolve, s * 1000));

export class Relay {
  constructor(private readonly opts: RelayOptions) {}

  /** POSTs a signed request for `op`; the answer's JSON, or BrokerRefusal. */
  async call(op: CountersignOp, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const iat = this.opts.now?.() ?? Math.floor(Date.now() / 1000);
    const request = es256Sign({ typ: RELAY_REQUEST_TYP, kid: this.opts.key.kid }, { htm: 'POST', htu: COUNTERSIGN_PATHS[op], iat, jti: randomBytesPooled(16).toString('base64url'), body }, this.opts.key.privateKey);
    const res = await fetch(`${this.opts.gateway}${COUNTERSIGN_PATHS[op]}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ request }) });
    const data = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok) throw new BrokerRefusal(String(data.code ?? 'unknown'), res.status, data);
    return data;
  }

  /** Polls until the application is no longer pending (CIBA: `interval`, `slow_down`, `expires_in`). */
  async poll(aid: string, interval: number, expiresIn: number): Promise<Record<string, unknown>> {
    const sleep = this.opts.sleep ?? sleepReal;
    let wait = interval;
    let waited = 0;
    for (;;) {
      try {
        return await this.call('poll', { auth_req_id: aid });
      } catch (err) {
        if (!(err instanceof BrokerRefusal)) throw err;
        if (err.code === 'slow_down') wait += 5;
        else if (err.code !== 'authorization_pending') throw err;
      }
      if (waited + wait > expiresIn) throw new BrokerRefusal('countersign_expired', 400, {});
      await sleep(wait);
      waited += wait;
    }
  }

  /** The relay's signed decision over this application's TBS object and countersignature. */
  decision(aid: string, tbs: string, countersignature: string, decision: 'approve' | 'refuse'): string {
    const iat = this.opts.now?.() ?? Math.floor(Date.now() / 1000);
    return es256Sign({ typ: DECISION_TYP, kid: this.opts.key.kid }, { aid, tbs: sha256b64u(tbs), cs: sha256b64u(countersignature), decision, iat }, this.opts.key.privateKey);
  }

  /**
   * One authorization: the device's application to the broker, the TBS object back to the device,
   * its countersignature to the broker, a poll for the result, the decision, and the outcome
   * (with the grant and its receipt when approved) back to the device. Returns that outcome.
   */
  async serve(channel: Channel): Promise<Record<string, unknown>> {
    const finish = (result: Record<string, unknown>) => {
      channel.send({ type: 'result', ...result });
      return result;
    };
    const first = await channel.receive();
    if (first.type !== 'application') return finish({ status: 'refused', code: 'invalid_request' });
    let applied: Record<string, unknown>;
    try {
      applied = await this.call('apply', { application: first.application });
    } catch (err) {
      if (err instanceof BrokerRefusal) return finish({ status: 'refused', code: err.code });
      throw err;
    }
    const aid = applied.auth_req_id as string;
    const tbs = applied.tbs as string;
    channel.send({ type: 'tbs', auth_req_id: aid, tbs });
    const answer = await channel.receive();
    if (answer.type !== 'countersignature' || typeof answer.countersignature !== 'string') return { status: 'refused_by_device', reason: answer.reason };
    const cs = answer.countersignature;
    let verified: Record<string, unknown>;
    try {
      await this.call('countersign', { auth_req_id: aid, countersignature: cs, ...(typeof answer.password === 'string' && { password: answer.password }) });
      verified = await this.poll(aid, Number(applied.interval) || 2, Number(applied.expires_in) || 300);
    } catch (err) {
      if (err instanceof BrokerRefusal) return finish({ status: 'refused', code: err.code });
      throw err;
    }
    // The relay shows what the server verified and takes part in the decision.
    const claims = JSON.parse(Buffer.from(tbs.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const approve = await (this.opts.decide?.({
      operation: claims.op as string, amount: claims.amount as string | undefined, currency: claims.currency as string | undefined,
      payee: claims.payee as string | undefined, level: claims.level as number, status: String(verified.status),
    }) ?? true);
    try {
      const decided = await this.call('decide', { auth_req_id: aid, decision: this.decision(aid, tbs, cs, approve ? 'approve' : 'refuse') });
      return finish(decided);
    } catch (err) {
      if (err instanceof BrokerRefusal) return finish({ status: 'refused', code: err.code });
      throw err;
    }
  }
}

/** `npm run relay -- --gateway URL --key FILE -- <device command ...>`: serves one authorization and prints its outcome. */
async function main(argv: string[]): Promise<void> {
  const sep = argv.indexOf('--');
  const own = sep < 0 ? argv : argv.slice(0, sep);
  const command = sep < 0 ? [] : argv.slice(sep + 1);
  const arg = (name: string) => {
    const i = own.indexOf(name);
    return i >= 0 ? own[i + 1] : undefined;
  };
  const gateway = arg('--gateway');
  const keyFile = arg('--key');
  if (!gateway || !keyFile || command.length === 0) {
    process.stderr.write('usage: npm run relay -- --gateway URL --key relay-key.json -- <device command ...>\n');
    process.exitCode = 2;
    return;
  }
  const refuse = own.includes('--refuse');
  const relay = new Relay({
    gateway: gateway.replace(/\/+$/, ''), key: deviceKeyFromPrivateJwk(JSON.parse(readFileSync(keyFile, 'utf8'))),
    // The relay's screen: what the broker verified, and the relay's answer (`--refuse` refuses).
    decide: (shown) => {
      process.stderr.write(`relay: ${shown.status} ${shown.operation} ${shown.amount ?? ''} ${shown.currency ?? ''} to ${shown.payee ?? '-'} (level ${shown.level}): ${refuse ? 'refused' : 'approved'}\n`);
      return !refuse;
    },
  });
  // The device's only link: its stdin and stdout. Its stderr passes through for diagnostics.
  const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const outcome = await relay.serve(lineChannel(child.stdout!, child.stdin!));
  process.stdout.write(`${JSON.stringify({ status: outcome.status, code: outcome.code })}\n`);
  child.stdin!.end();
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`relay: ${err.message}\n`);
    process.exitCode = 1;
  });
}
