/**
 * Reports the sizes of the H5 SDK bundles the h5 server serves (`npm run h5-sdk:size`): the
 * classic script `h5-sdk.js`, the ES module `h5-sdk.mjs`, and `envelope-forge.js`, which the SDK
 * loads only where the browser has no `crypto.subtle`.
 */
import { buildAssets, gzippedSize } from './bundle.ts';

export async function h5SdkSizes(): Promise<Record<string, { bytes: number; gzip: number }>> {
  const assets = await buildAssets();
  const out: Record<string, { bytes: number; gzip: number }> = {};
  for (const name of ['h5-sdk.js', 'h5-sdk.mjs', 'envelope-forge.js']) {
    const a = assets.get(name)!;
    out[name] = { bytes: a.body.length, gzip: gzippedSize(a) };
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [name, s] of Object.entries(await h5SdkSizes())) {
    console.log(`${name.padEnd(18)} ${(s.bytes / 1024).toFixed(1).padStart(6)} KiB, ${(s.gzip / 1024).toFixed(1).padStart(5)} KiB gzipped${name === 'envelope-forge.js' ? ' (loaded only without crypto.subtle)' : ''}`);
  }
}
