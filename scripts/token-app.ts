/**
 * The token app as a command line: what the phone does, from the QR payload's text.
 *
 *   npm run token-app -- scan '<token app URL or bind=...>'   # shows what it confirms, sends the request, prints the code
 *   npm run token-app -- code '<token app URL or bind=...>'   # the current 6-digit code of that key
 *
 * `--gateway <url>` sends the request to another gateway than the payload names (the same
 * deployment: any gateway process on the same store). Exit status 0 when the gateway accepted it.
 */
import { createHmac } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { maskAccount, parseBindingUri, scanInput, type BindingPayload } from '../protocol/binding.ts';
import { totp } from '../flows/binding/totp.ts';

export interface ScanAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** The phone's keyed hash over (timestamp, link, account), length-prefixed. */
export function phoneHash(payload: BindingPayload, ts: number): string {
  return createHmac('sha256', Buffer.from(payload.key, 'base64url')).update(scanInput(ts, payload.link, payload.account)).digest('base64url');
}

/** Sends the phone's access request for `payload`; `ts` defaults to now. */
export async function sendScan(payload: BindingPayload, opts: { gateway?: string; ts?: number } = {}): Promise<ScanAnswer> {
  const ts = opts.ts ?? Math.floor(Date.now() / 1000);
  const res = await fetch(`${(opts.gateway ?? payload.gw).replace(/\/+$/, '')}/v1/binding-scans`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ link: payload.link, ts, hash: phoneHash(payload, ts) }),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

/** The current TOTP code of the payload's key (SHA-1, 6 digits, 30 s). */
export function currentCode(payload: BindingPayload, seconds = Math.floor(Date.now() / 1000)): string {
  return totp(Buffer.from(payload.key, 'base64url'), seconds);
}

async function main(argv: string[]): Promise<number> {
  const [command, text, ...rest] = argv;
  const gwAt = rest.indexOf('--gateway');
  const gateway = gwAt >= 0 ? rest[gwAt + 1] : undefined;
  const payload = text ? parseBindingUri(text) : undefined;
  if (!payload || (command !== 'scan' && command !== 'code')) {
    process.stderr.write("usage: npm run token-app -- scan|code '<token app URL or bind=...>' [--gateway <url>]\n");
    return 2;
  }
  if (command === 'code') {
    process.stdout.write(`${currentCode(payload)}\n`);
    return 0;
  }
  process.stdout.write(`Binding a token key for ${maskAccount(payload.account)}, asked by the page at ${payload.origin}\n`);
  const answer = await sendScan(payload, { gateway });
  if (answer.status !== 202) {
    process.stdout.write(`Refused (${answer.status} ${String(answer.body.code ?? '')}): ${String(answer.body.detail ?? '')}\n`);
    return 1;
  }
  process.stdout.write(`Sent; confirm on the page. Current code: ${currentCode(payload)}\n`);
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
