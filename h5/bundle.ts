/** Bundles the H5 browser code with esbuild, once, in memory. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { brotliCompress, constants as zlib, gzip as gzipCallback, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

export interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  /** The body gzipped and brotli-compressed, when that makes it smaller. */
  gzip?: Buffer;
  br?: Buffer;
}

/**
 * The encoding to send `a` in for this Accept-Encoding: `br`, then `gzip`, else `identity`, among
 * the forms `a` has (an asset's compressed bodies, or `true` for a body compressed on demand). A
 * coding with `q=0` is refused; other q-values are not ranked (both codings are better than none).
 */
export function pickEncoding(acceptEncoding: string, a: { gzip?: unknown; br?: unknown }): 'br' | 'gzip' | 'identity' {
  const accepted = new Set<string>();
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (name && !(q && Number(q.slice(2)) === 0)) accepted.add(name.trim());
  }
  if (a.br && accepted.has('br')) return 'br';
  if (a.gzip && accepted.has('gzip')) return 'gzip';
  return 'identity';
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
    minify: !process.env.H5_NO_MINIFY,
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return Buffer.from(result.outputFiles[0]!.contents);
}

const gzipAsync = promisify(gzipCallback);
const brotliAsync = promisify(brotliCompress);

/**
 * An asset with its compressed forms. Compressed on the thread pool, not the event loop: brotli at
 * quality 11 takes long enough on the forge bundle that a synchronous call would keep the server
 * from answering `starting` while it builds (test/system/startup.test.ts).
 */
async function asset(body: Buffer, type: string): Promise<Asset> {
  const [gzip, br] = await Promise.all([
    gzipAsync(body, { level: 9 }),
    brotliAsync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } }),
  ]);
  return {
    body,
    type,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    ...(gzip.length < body.length && { gzip }),
    ...(br.length < body.length && { br }),
  };
}

/** Builds every asset the H5 pages load, keyed by file name. */
export async function buildAssets(): Promise<Map<string, Asset>> {
  const [boot, webcrypto, app, forge, session, secondFactor, countersign, binding, tokenApp, sdk, sdkModule, challenge, powWorker] = await Promise.all([
    bundle('./client/boot.ts'), bundle('./client/webcrypto-entry.ts'), bundle('./client/app.ts'), bundle('./client/envelope-forge.ts'), bundle('./client/session.ts'), bundle('./client/second-factor-actions.ts'), bundle('./client/countersign.ts'),
    bundle('./client/binding-page.ts'), bundle('./client/token-app.ts'),
    // The H5 SDK for product teams (docs/h5-products.md): one classic script (global H5Broker) and an ES module.
    bundle('./client/sdk.ts', { format: 'iife', globalName: 'H5Broker' }), bundle('./client/sdk.ts', { format: 'esm' }),
    bundle('./client/challenge-entry.ts'), bundle('./client/pow-worker.ts'),
  ]);
  const sources: [string, Buffer, string][] = [
    // Inlined in the product page's <head> (its sha256 in the CSP); served too, for inspection.
    ['boot.js', boot, 'application/javascript; charset=utf-8'],
    ['app.js', app, 'application/javascript; charset=utf-8'],
    ['envelope-forge.js', forge, 'application/javascript; charset=utf-8'],
    // The WebCrypto envelope, for a product page whose boot script did not run (app.js loads it).
    ['envelope-webcrypto.js', webcrypto, 'application/javascript; charset=utf-8'],
    // The session kept in IndexedDB: only where WebCrypto is (app.js loads it).
    ['session.js', session, 'application/javascript; charset=utf-8'],
    ['second-factor.js', secondFactor, 'application/javascript; charset=utf-8'],
    ['countersign.js', countersign, 'application/javascript; charset=utf-8'],
    ['binding.js', binding, 'application/javascript; charset=utf-8'],
    ['token-app.js', tokenApp, 'application/javascript; charset=utf-8'],
    ['h5-sdk.js', sdk, 'application/javascript; charset=utf-8'],
    ['h5-sdk.mjs', sdkModule, 'application/javascript; charset=utf-8'],
    // The proof-of-work client, loaded on the first pow_required, and its Web Worker (flows/challenge).
    ['challenge.js', challenge, 'application/javascript; charset=utf-8'],
    ['pow-worker.js', powWorker, 'application/javascript; charset=utf-8'],
    ['app.css', readFileSync(here('./public/app.css')), 'text/css; charset=utf-8'],
    // Product imagery, drawn for these pages (public/img/product-<id>.svg).
    ...readdirSync(here('./public/img'))
      .filter((f) => f.endsWith('.svg'))
      .map((f) => [f, readFileSync(here(`./public/img/${f}`)), 'image/svg+xml'] as [string, Buffer, string]),
  ];
  return new Map(await Promise.all(sources.map(async ([name, body, type]) => [name, await asset(body, type)] as [string, Asset])));
}

/** Gzipped sizes, for the benchmark report. */
export function gzippedSize(a: Asset): number {
  return gzipSync(a.body, { level: 9 }).length;
}
