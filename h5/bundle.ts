/** Bundles the H5 browser code with esbuild, once, in memory. */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
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
 * The encoding to send `a` in for this Accept-Encoding: `br`, then `gzip`, else `identity`. A
 * coding with `q=0` is refused; other q-values are not ranked (both codings are better than none).
 */
export function pickEncoding(acceptEncoding: string, a: Pick<Asset, 'gzip' | 'br'>): 'br' | 'gzip' | 'identity' {
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
  const gzip = gzipSync(body, { level: 9 });
  const br = brotliCompressSync(body, { params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_SIZE_HINT]: body.length } });
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
  const [app, forge] = await Promise.all([bundle('./client/app.ts'), bundle('./client/envelope-forge.ts')]);
  return new Map([
    ['app.js', asset(app, 'application/javascript; charset=utf-8')],
    ['envelope-forge.js', asset(forge, 'application/javascript; charset=utf-8')],
    ['app.css', asset(readFileSync(here('./public/app.css')), 'text/css; charset=utf-8')],
    // Product imagery, drawn for these pages (public/img/product-<id>.svg).
    ...readdirSync(here('./public/img'))
      .filter((f) => f.endsWith('.svg'))
      .map((f) => [f, asset(readFileSync(here(`./public/img/${f}`)), 'image/svg+xml')] as [string, Asset]),
  ]);
}

/** Gzipped sizes, for the benchmark report. */
export function gzippedSize(a: Asset): number {
  return gzipSync(a.body, { level: 9 }).length;
}
