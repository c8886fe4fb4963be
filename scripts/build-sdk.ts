/**
 * Builds the publishable SDK package in sdk/ (sdk/package.json): `sdk/dist/index.js`, one ESM
 * bundle of sdk/index.ts and the broker code it uses (jose stays a dependency), and its type
 * declarations under `sdk/dist/types/`. `npm run build:sdk`; `npm pack` in sdk/ runs it first.
 * Reports the bundle's size.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildSdk(outDir = `${root}sdk/dist`): Promise<{ bundle: string; types: string; bytes: number }> {
  rmSync(outDir, { recursive: true, force: true });
  const bundle = `${outDir}/index.js`;
  await build({
    entryPoints: [`${root}sdk/index.ts`], outfile: bundle, bundle: true, format: 'esm', platform: 'node', target: 'node20',
    external: ['jose'], logLevel: 'warning', legalComments: 'none',
  });
  const tsconfig = `${outDir}/tsconfig.types.json`;
  writeFileSync(tsconfig, JSON.stringify({
    extends: `${root}tsconfig.json`,
    compilerOptions: { noEmit: false, declaration: true, emitDeclarationOnly: true, rewriteRelativeImportExtensions: true, rootDir: root, outDir: `${outDir}/types` },
    include: [], files: [`${root}sdk/index.ts`],
  }));
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', tsconfig], { stdio: 'inherit' });
  rmSync(tsconfig);
  // The declarations keep the sources' `.ts` specifiers; a consumer resolves `.js` to `.d.ts`.
  for (const file of readdirSync(`${outDir}/types`, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'))) {
    const path = `${outDir}/types/${file}`;
    writeFileSync(path, readFileSync(path, 'utf8').replace(/(from\s+'\.{1,2}\/[^']*)\.ts'/g, "$1.js'"));
  }
  return { bundle, types: `${outDir}/types/sdk/index.d.ts`, bytes: statSync(bundle).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = await buildSdk(process.argv[2]);
  console.log(`sdk: ${out.bundle} (${(out.bytes / 1024).toFixed(1)} KiB), types ${out.types}`);
}
