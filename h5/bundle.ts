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

async function bundle(entry: string, as: { format: 'iife' | 'esm'; globalName?: string } = { format: 'iife' }): Promise<Buffer> {
  const result = await build({
    entryPoints: [here(entry)],
    bundle: true,
    format: as.format,
    globalName: as.globalName,
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
  const [app, forge, sdk, sdkModule] = await Promise.all([
    bundle('./client/app.ts'), bundle('./client/envelope-forge.ts'),
    // The H5 SDK for product teams (docs/h5-products.md): one classic script (global H5Broker) and an ES module.
    bundle('./client/sdk.ts', { format: 'iife', globalName: 'H5Broker' }), bundle('./client/sdk.ts', { format: 'esm' }),
  ]);
  return new Map([
    ['app.js', asset(app, 'application/javascript; charset=utf-8')],
    ['envelope-forge.js', asset(forge, 'application/javascript; charset=utf-8')],
    ['h5-sdk.js', asset(sdk, 'application/javascript; charset=utf-8')],
    ['h5-sdk.mjs', asset(sdkModule, 'application/javascript; charset=utf-8')],
    ['app.css', asset(readFileSync(here('./public/app.css')), 'text/css; charset=utf-8')],
  ]);
}

/** Gzipped sizes, for the benchmark report. */
export function gzippedSize(a: Asset): number {
  return gzipSync(a.body, { level: 9 }).length;
}
