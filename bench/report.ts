/** Writes the benchmark report: JSON, a Markdown table with each target's ratio, and a PNG chart. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { BrowserResult } from './browser.ts';
import type { CryptoLimits } from './crypto.ts';
import type { ChallengeCosts } from './challenge.ts';
import type { LoadResult } from './load.ts';

export interface BrokerRun {
  workers: number;
  issuance: LoadResult;
  exchange: Record<string, LoadResult>;
  product: LoadResult;
}

export interface Report {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string };
  seconds: number;
  connections: number;
  crypto: CryptoLimits;
  /** The proof-of-work gate's work per request (flows/challenge); absent in reports from before it. */
  challenge?: ChallengeCosts;
  one: BrokerRun;
  many?: BrokerRun;
  references: { oidc: LoadResult; bareKoa: LoadResult };
  browser: BrowserResult | { skipped: string };
  totalSeconds: number;
}

interface Row {
  scenario: string;
  processes: number;
  r: LoadResult;
}

export interface Target {
  name: string;
  ratio: number | undefined;
  goal: string;
  met: boolean | undefined;
}

const fmt = (n: number | undefined, d = 2) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(d));

export function rows(report: Report): Row[] {
  const out: Row[] = [];
  for (const run of [report.one, report.many].filter(Boolean) as BrokerRun[]) {
    out.push({ scenario: 'AT issuance (signed -> encrypted AT)', processes: run.workers, r: run.issuance });
    for (const [alg, r] of Object.entries(run.exchange)) out.push({ scenario: `VT exchange, ${alg} envelope`, processes: run.workers, r });
    out.push({ scenario: 'Product API with a VT, via the gateway', processes: run.workers, r: run.product });
  }
  out.push({ scenario: 'ref: node-oidc-provider client_credentials', processes: 1, r: report.references.oidc });
  out.push({ scenario: 'ref: bare Koa + router, same JSON', processes: 1, r: report.references.bareKoa });
  return out;
}

export function targets(report: Report): Target[] {
  const one = report.one;
  const rsa = one.exchange['RSA-OAEP-256']?.rps;
  const ecdh = one.exchange['ECDH-ES+A256KW']?.rps;
  const b = 'skipped' in report.browser ? undefined : report.browser;
  const t = (name: string, ratio: number | undefined, goal: string, ok: (x: number) => boolean): Target => ({ name, ratio, goal, met: ratio === undefined ? undefined : ok(ratio) });
  return [
    t('AT issuance / node-oidc-provider client_credentials', one.issuance.rps / report.references.oidc.rps, '>= 2.5', (x) => x >= 2.5),
    t('AT issuance p99 at 50 connections (ms)', one.issuance.p99, '<= 10', (x) => x <= 10),
    t('RSA VT exchange / raw RSA-2048 OAEP decrypt of one core', rsa && rsa / report.crypto.rsa2048OaepDecrypt, '>= 0.85', (x) => x >= 0.85),
    t('ECDH-ES+A256KW exchange / RSA exchange', ecdh && rsa ? ecdh / rsa : undefined, '>= 3', (x) => x >= 3),
    t('Product API / bare Koa + router', one.product.rps / report.references.bareKoa.rps, '>= 0.6', (x) => x >= 0.6),
    t('node-forge time to render / WebCrypto', b && b.forgeMedianMs / b.webcryptoMedianMs, '<= 2', (x) => x <= 2),
    t('Phone profile: WebCrypto time to product rendered / static page', b?.phone && b.phone.webcryptoMedianMs / b.phone.staticMedianMs, '<= 1.5', (x) => x <= 1.5),
    t('Phone profile: node-forge time to product rendered / static page', b?.phone && b.phone.forgeMedianMs / b.phone.staticMedianMs, '(reported)', () => true),
  ];
}

export function markdown(report: Report): string {
  const m = report.machine;
  const lines = [
    `Measured ${report.date.slice(0, 10)} by \`npm run bench\` on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node} (${m.platform}); Redis on 127.0.0.1; autocannon, ${report.connections} connections, ${report.seconds} s per scenario after a 1 s warm-up; the load generator shares the machine.`,
    '',
    '| scenario | processes | req/s | p50 ms | p99 ms | errors + non-2xx |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows(report).map(({ scenario, processes, r }) => `| ${scenario} | ${processes} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors + r.non2xx} |`),
    '',
    '| raw node:crypto, one core | ops/s |',
    '|---|---:|',
    `| RSA-2048 OAEP-SHA256 decrypt | ${Math.round(report.crypto.rsa2048OaepDecrypt)} |`,
    `| ECDH P-256 derive | ${Math.round(report.crypto.ecdhP256Derive)} |`,
    `| X25519 derive | ${Math.round(report.crypto.x25519Derive)} |`,
    `| AES-256-GCM seal, 1 KiB | ${Math.round(report.crypto.aes256GcmSeal1k)} |`,
    '',
  ];
  if (report.challenge) {
    const c = report.challenge;
    lines.push(
      '| proof-of-work gate, per request, one core, in-memory store (add one Redis round trip for the last two) | µs |',
      '|---|---:|',
      `| issue a challenge (401 pow_required) | ${fmt(c.issueChallengeUs, 1)} |`,
      `| check a solution (signature, hash, spend once) | ${fmt(c.checkSolutionUs, 1)} |`,
      `| check a pass (MAC, origin, revocation read) | ${fmt(c.checkPassUs, 1)} |`,
      '',
    );
  }
  if ('skipped' in report.browser) {
    lines.push(`Browser: not measured (${report.browser.skipped}).`, '');
  } else {
    const b = report.browser;
    lines.push(
      `| Chromium, navigation to product rendered (median of ${b.runs}, cold cache) | ms |`,
      '|---|---:|',
      `| WebCrypto path (${b.envelopeAlgs.webcrypto}) | ${fmt(b.webcryptoMedianMs, 1)} |`,
      `| node-forge path (${b.envelopeAlgs.forge}) | ${fmt(b.forgeMedianMs, 1)} |`,
      '',
      `H5 bundles, gzipped: ${Object.entries(b.bundleGzipBytes).map(([k, v]) => `${k} ${v} B`).join(', ')}.`,
      '',
    );
    if (b.phone) {
      const ph = b.phone;
      lines.push(
        `| Chromium at the phone profile (${ph.profile}; median of ${ph.runs}, cold cache, in one run) | ms | / static |`,
        '|---|---:|---:|',
        `| WebCrypto path, navigation to product rendered | ${fmt(ph.webcryptoMedianMs, 0)} | ${fmt(ph.webcryptoMedianMs / ph.staticMedianMs)} |`,
        `| node-forge path, navigation to product rendered | ${fmt(ph.forgeMedianMs, 0)} | ${fmt(ph.forgeMedianMs / ph.staticMedianMs)} |`,
        `| static page, same visible content (first contentful paint) | ${fmt(ph.staticMedianMs, 0)} | 1 |`,
        '',
      );
    }
  }
  lines.push('| target (ratio in this run, one process) | ratio | goal | met |', '|---|---:|---|---|');
  for (const t of targets(report)) lines.push(`| ${t.name} | ${fmt(t.ratio)} | ${t.goal} | ${t.met === undefined ? 'not measured' : t.met ? 'yes' : 'no'} |`);
  return lines.join('\n') + '\n';
}

function chartHtml(report: Report): string {
  const data = rows(report);
  const maxRps = Math.max(...data.map((d) => d.r.rps));
  const maxP99 = Math.max(...data.map((d) => d.r.p99), 1);
  const bar = (value: number, max: number, color: string) => `<div class="bar" style="width:${Math.max(1, (value / max) * 78)}%;background:${color}"></div>`;
  const body = data
    .map((d) => `<tr><td class="name">${d.scenario}${d.processes > 1 ? ` (${d.processes} proc)` : ''}</td><td class="cell">${bar(d.r.rps, maxRps, '#2563eb')}<span>${d.r.rps} req/s</span></td><td class="cell">${bar(d.r.p99, maxP99, '#dc2626')}<span>${d.r.p99} ms</span></td></tr>`)
    .join('');
  return `<!doctype html><html><head><style>
body{font:14px system-ui,sans-serif;margin:24px;color:#111827;width:1100px}
h1{font-size:18px;margin:0 0 4px} p{color:#4b5563;margin:0 0 16px}
table{border-collapse:collapse;width:100%} td{padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:middle}
.name{width:340px} .cell{width:360px;position:relative} .bar{height:18px;border-radius:3px;display:inline-block;vertical-align:middle}
.cell span{margin-left:8px;font-variant-numeric:tabular-nums}
th{text-align:left;padding:6px 8px;color:#374151}
</style></head><body><h1>H5 access broker: throughput and p99 per scenario</h1>
<p>${report.date.slice(0, 10)} · ${report.machine.cpu} · ${report.machine.cores} cores · Node ${report.machine.node} · ${report.connections} connections</p>
<table><tr><th>scenario</th><th>throughput</th><th>p99 latency</th></tr>${body}</table></body></html>`;
}

/** Writes bench/results/latest.{json,md,png}; returns the paths. */
export async function writeReport(report: Report, chromiumPath: string): Promise<string[]> {
  mkdirSync('bench/results', { recursive: true });
  const files = ['bench/results/latest.json', 'bench/results/latest.md'];
  writeFileSync(files[0]!, JSON.stringify({ ...report, targets: targets(report) }, null, 2) + '\n');
  writeFileSync(files[1]!, markdown(report));
  try {
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    const page = await browser.newPage({ viewport: { width: 1150, height: 400 } });
    await page.setContent(chartHtml(report));
    await page.screenshot({ path: 'bench/results/latest.png', fullPage: true });
    await browser.close();
    files.push('bench/results/latest.png');
  } catch (err) {
    process.stderr.write(`bench: no PNG chart (${(err as Error).message})\n`);
  }
  return files;
}
