/**
 * Writes the benchmark report: JSON, Markdown (the README's Performance figures are copied from
 * it) and a PNG chart. Every scenario ran several times, interleaved with the others; the report
 * gives each one's median and spread (min-max), and every target ratio is taken from medians.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { BrowserResult } from './browser.ts';
import type { CryptoLimits } from './crypto.ts';
import type { ChallengeCosts } from './challenge.ts';
import type { LoadResult } from './load.ts';
import type { ProfileSummary } from './profile.ts';

export interface ScenarioResult {
  id: string;
  label: string;
  processes: number;
  kind: 'broker' | 'reference';
  /** One result per round, in round order. */
  runs: LoadResult[];
}

export interface Report {
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string; loadAverage: number[] };
  seconds: number;
  warmupSeconds: number;
  rounds: number;
  connections: number;
  /** Medians over the rounds (one measurement at the start of each round). */
  crypto: CryptoLimits;
  /** The proof-of-work gate's work per request (flows/challenge); absent in reports from before it. */
  challenge?: ChallengeCosts;
  cryptoRounds: CryptoLimits[];
  scenarios: ScenarioResult[];
  profiles: Record<string, ProfileSummary>;
  profileSeconds: number;
  browser: BrowserResult | { skipped: string };
  totalSeconds: number;
}

export interface Summary {
  rps: number;
  rpsMin: number;
  rpsMax: number;
  /** Spread of req/s, (max - min) / median. */
  rpsSpread: number;
  p50: number;
  p99: number;
  p99Min: number;
  p99Max: number;
  errors: number;
}

export interface Target {
  name: string;
  value: number | undefined;
  goal: string;
  met: boolean | undefined;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function summarize(runs: readonly LoadResult[]): Summary {
  const rps = runs.map((r) => r.rps);
  const p99 = runs.map((r) => r.p99);
  const m = median(rps);
  return {
    rps: m, rpsMin: Math.min(...rps), rpsMax: Math.max(...rps), rpsSpread: m ? (Math.max(...rps) - Math.min(...rps)) / m : NaN,
    p50: median(runs.map((r) => r.p50)), p99: median(p99), p99Min: Math.min(...p99), p99Max: Math.max(...p99),
    errors: runs.reduce((n, r) => n + r.errors + r.non2xx, 0),
  };
}

const fmt = (n: number | undefined, d = 2) => (n === undefined || Number.isNaN(n) ? '—' : n.toFixed(d));

function find(report: Report, id: string): Summary | undefined {
  const s = report.scenarios.find((x) => x.id === id);
  return s && summarize(s.runs);
}

export function targets(report: Report): Target[] {
  const issuance = find(report, 'issuance-1');
  const oidc = find(report, 'ref-oidc');
  const rsa = find(report, 'exchange-RSA-1');
  const ecdh = [find(report, 'exchange-X25519-1'), find(report, 'exchange-P-256-1')].filter((x): x is Summary => !!x);
  const bestEcdh = ecdh.length ? Math.max(...ecdh.map((e) => e.rps)) : undefined;
  const product = find(report, 'product-1');
  const proxy = find(report, 'ref-koa-proxy');
  const b = 'skipped' in report.browser ? undefined : report.browser;
  const errors = report.scenarios.reduce((n, s) => n + summarize(s.runs).errors, 0);
  const t = (name: string, value: number | undefined, goal: string, ok: (x: number) => boolean): Target => ({ name, value, goal, met: value === undefined || Number.isNaN(value) ? undefined : ok(value) });
  return [
    t('AT issuance / node-oidc-provider client_credentials', issuance && oidc && issuance.rps / oidc.rps, '>= 1.5', (x) => x >= 1.5),
    t('AT issuance p99 at 50 connections (ms, median of the rounds)', issuance?.p99, '<= 10', (x) => x <= 10),
    t('RSA VT exchange / raw RSA-2048 OAEP decrypt of one core', rsa && rsa.rps / report.crypto.rsa2048OaepDecrypt, '>= 0.9', (x) => x >= 0.9),
    t('best ECDH-ES+A256KW exchange / RSA exchange', bestEcdh !== undefined && rsa ? bestEcdh / rsa.rps : undefined, '>= 2', (x) => x >= 2),
    t('Product API / bare Koa + undici proxy hop to the same backend', product && proxy && product.rps / proxy.rps, '>= 0.8', (x) => x >= 0.8),
    t('node-forge time to render / WebCrypto', b && b.forgeMedianMs / b.webcryptoMedianMs, '<= 1.25', (x) => x <= 1.25),
    t('Phone profile: WebCrypto time to product rendered / static page', b?.phone && b.phone.webcryptoMedianMs / b.phone.staticMedianMs, '<= 1.5', (x) => x <= 1.5),
    t('Phone profile: node-forge time to product rendered / static page', b?.phone && b.phone.forgeMedianMs / b.phone.staticMedianMs, '(reported)', () => true),
    t('errors and non-2xx under load, every run of every scenario', errors, '0', (x) => x === 0),
  ];
}

export function markdown(report: Report): string {
  const m = report.machine;
  const lines = [
    `Measured ${report.date.slice(0, 10)} by \`npm run bench\` on ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node} (${m.platform}), load average ${m.loadAverage.join(' ')} at the start; Redis on 127.0.0.1; autocannon, ${report.connections} connections, ${report.seconds} s per run after a ${report.warmupSeconds} s warm-up; every scenario and reference ran ${report.rounds} times, interleaved (round 1 of all, then round 2 of all, …); the load generator shares the machine. Figures are medians of the ${report.rounds} runs; the spread is min–max; every ratio is taken from medians.`,
    '',
    '| scenario | processes | req/s (median) | req/s min–max | spread | p50 ms | p99 ms (median) | p99 min–max | errors + non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...report.scenarios.map((s) => {
      const x = summarize(s.runs);
      return `| ${s.label} | ${s.processes} | ${Math.round(x.rps)} | ${x.rpsMin}–${x.rpsMax} | ${fmt(x.rpsSpread * 100, 0)}% | ${x.p50} | ${x.p99} | ${x.p99Min}–${x.p99Max} | ${x.errors} |`;
    }),
    '',
    `| raw node:crypto, one core (median of ${report.cryptoRounds.length}) | ops/s |`,
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
      `| Chromium, navigation to product rendered (median of ${b.runs}, cold cache, the two paths interleaved) | ms |`,
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
  lines.push('| target (from medians, one process) | value | goal | met |', '|---|---:|---|---|');
  for (const t of targets(report)) lines.push(`| ${t.name} | ${fmt(t.value)} | ${t.goal} | ${t.met === undefined ? 'not measured' : t.met ? 'yes' : 'no'} |`);
  lines.push('');
  const profiled = Object.entries(report.profiles);
  if (profiled.length) {
    lines.push(
      `CPU profiles (V8 sampling profiler, 1 ms, ${report.profileSeconds} s of load per scenario in the one-process broker after the rounds; \`bench/results/profiles/<scenario>.cpuprofile\`, open in Chrome DevTools). Top 10 functions by self time, as a share of the time the process was busy:`,
      '',
    );
    for (const [id, p] of profiled) {
      const label = report.scenarios.find((s) => s.id === id)?.label ?? id;
      lines.push(`**${label}** (\`${id}\`, busy ${fmt(p.busyShare * 100, 0)}% of the time)`, '', '| # | function | where | self |', '|---:|---|---|---:|');
      p.top.forEach((f, i) => lines.push(`| ${i + 1} | \`${f.name.replace(/\|/g, '\\|')}\` | ${f.where ? `\`${f.where}\`` : ''} | ${fmt(f.selfShare * 100, 1)}% |`));
      lines.push('');
    }
  }
  return lines.join('\n');
}

function chartHtml(report: Report): string {
  const data = report.scenarios.map((s) => ({ s, x: summarize(s.runs) }));
  const maxRps = Math.max(...data.map((d) => d.x.rpsMax));
  const maxP99 = Math.max(...data.map((d) => d.x.p99Max), 1);
  const bar = (value: number, lo: number, hi: number, max: number, color: string) =>
    `<div class="bar" style="width:${Math.max(1, (value / max) * 70)}%;background:${color}"></div><div class="range" style="left:${(lo / max) * 70}%;width:${Math.max(0.3, ((hi - lo) / max) * 70)}%"></div>`;
  const body = data
    .map(({ s, x }) => `<tr><td class="name">${s.label}${s.processes > 1 ? ` (${s.processes} proc)` : ''}</td><td class="cell">${bar(x.rps, x.rpsMin, x.rpsMax, maxRps, s.kind === 'reference' ? '#6b7280' : '#2563eb')}<span>${Math.round(x.rps)} req/s</span></td><td class="cell">${bar(x.p99, x.p99Min, x.p99Max, maxP99, '#dc2626')}<span>${x.p99} ms</span></td></tr>`)
    .join('');
  return `<!doctype html><html><head><style>
body{font:14px system-ui,sans-serif;margin:24px;color:#111827;width:1200px}
h1{font-size:18px;margin:0 0 4px} p{color:#4b5563;margin:0 0 16px}
table{border-collapse:collapse;width:100%} td{padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:middle}
.name{width:420px} .cell{width:360px;position:relative} .bar{height:18px;border-radius:3px;display:inline-block;vertical-align:middle}
.range{position:absolute;top:50%;height:2px;background:#111827;margin-left:8px}
.cell span{margin-left:8px;font-variant-numeric:tabular-nums}
th{text-align:left;padding:6px 8px;color:#374151}
</style></head><body><h1>H5 access broker: throughput and p99 per scenario (median of ${report.rounds} interleaved runs; line: min–max)</h1>
<p>${report.date.slice(0, 10)} · ${report.machine.cpu} · ${report.machine.cores} cores · Node ${report.machine.node} · ${report.connections} connections · grey: references</p>
<table><tr><th>scenario</th><th>throughput</th><th>p99 latency</th></tr>${body}</table></body></html>`;
}

/** Writes bench/results/latest.{json,md,png}; returns the paths. */
export async function writeReport(report: Report, chromiumPath: string): Promise<string[]> {
  mkdirSync('bench/results', { recursive: true });
  const files = ['bench/results/latest.json', 'bench/results/latest.md'];
  const summaries = Object.fromEntries(report.scenarios.map((s) => [s.id, summarize(s.runs)]));
  writeFileSync(files[0]!, JSON.stringify({ ...report, summaries, targets: targets(report) }, null, 2) + '\n');
  writeFileSync(files[1]!, markdown(report));
  try {
    const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
    const page = await browser.newPage({ viewport: { width: 1250, height: 400 } });
    await page.setContent(chartHtml(report));
    await page.screenshot({ path: 'bench/results/latest.png', fullPage: true });
    await browser.close();
    files.push('bench/results/latest.png');
  } catch (err) {
    process.stderr.write(`bench: no PNG chart (${(err as Error).message})\n`);
  }
  return files;
}
