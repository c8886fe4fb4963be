/** Bundles the H5 browser code with esbuild, once, in memory. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

async function bundle(entry: string): Promise<Buffer> {
  const result = await build({
    entryPoints: [here(entry)],
    bundle: true,
    format: 'iife',
    // Old WebViews are who the node-forge path is for.
    target: 'es2017',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return Buffer.from(result.outputFiles[0]!.contents);
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Builds every asset the H5 pages load, keyed by file name. */
export async function buildAssets(): Promise<Map<string, Asset>> {
  const [app, forge, challenge, powWorker] = await Promise.all([
    bundle('./client/app.ts'), bundle('./client/envelope-forge.ts'), bundle('./client/challenge-entry.ts'), bundle('./client/pow-worker.ts'),
  ]);
  return new Map([
    ['app.js', asset(app, 'application/javascript; charset=utf-8')],
    ['envelope-forge.js', asset(forge, 'application/javascript; charset=utf-8')],
    ['challenge.js', asset(challenge, 'application/javascript; charset=utf-8')],
    ['pow-worker.js', asset(powWorker, 'application/javascript; charset=utf-8')],
    ['app.css', asset(readFileSync(here('./public/app.css')), 'text/css; charset=utf-8')],
  ]);
}

/** Gzipped sizes, for the benchmark report. */
export function gzippedSize(a: Asset): number {
  return gzipSync(a.body, { level: 9 }).length;
}
