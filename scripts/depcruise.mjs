#!/usr/bin/env node
/**
 * `npm run deps`: the import-direction check (rules in .dependency-cruiser.cjs), the same as
 * `depcruise --config .dependency-cruiser.cjs <dirs>`.
 *
 * dependency-cruiser 18's `depcruise` binary refuses to start on Node 20 (its engines field says
 * ^22), though the cruiser itself runs fine on Node 20: this calls its CLI entry point without the
 * version gate. On Node >= 22 `npx depcruise --config .dependency-cruiser.cjs <dirs>` does the same.
 */
import cli from '../node_modules/dependency-cruiser/src/cli/index.mjs';

export const DIRS = ['protocol', 'platform', 'flows', 'sdk', 'gateway', 'auth', 'h5', 'third-party-demo', 'system', 'scripts', 'bench', 'test'];

const args = process.argv.slice(2);
process.exitCode = await cli(args.length > 0 ? args : DIRS, { config: '.dependency-cruiser.cjs', outputType: 'err' });
