/**
 * Renders the README's configuration table from the declared settings (system/config.ts SETTINGS)
 * and writes it between its markers: `npx tsx scripts/settings-table.ts` (`--check` only compares).
 * test/system/settings.test.ts fails while the README's table differs from it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { settingsTable } from '../platform/config/settings.ts';
import { SETTINGS } from '../system/config.ts';

export const TABLE_START = '<!-- settings: generated from the settings.ts files by `npx tsx scripts/settings-table.ts`; do not edit by hand -->';
export const TABLE_END = '<!-- end of settings -->';

/** The README with its table replaced by the rendered one; throws if the markers are missing. */
export function withSettingsTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error('README.md: the settings table markers are missing');
  return `${readme.slice(0, start + TABLE_START.length)}\n${settingsTable(SETTINGS)}\n${readme.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = new URL('../README.md', import.meta.url);
  const readme = readFileSync(file, 'utf8');
  const updated = withSettingsTable(readme);
  if (process.argv.includes('--check')) {
    if (updated !== readme) {
      console.error('README.md: the settings table is out of date; run npx tsx scripts/settings-table.ts');
      process.exitCode = 1;
    }
  } else if (updated !== readme) {
    writeFileSync(file, updated);
    console.log('README.md: settings table updated');
  }
}
