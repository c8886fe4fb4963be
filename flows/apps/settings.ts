/** The app registry's settings. */
import { oneOfSetting, stringSetting } from '../../platform/config/settings.ts';

export const APPS_FILE = stringSetting('APPS_FILE', {
  def: 'config/apps.json',
  range: 'a path',
  doc: 'the registry of third-party apps and product backends (see [below](#the-app-registry-apps_file))',
});

export const APPS_SOURCE = oneOfSetting('APPS_SOURCE', {
  def: 'file',
  values: ['file', 'store'] as const,
  range: '`file`, `store`',
  doc: '`file`: the registry is `APPS_FILE`, read at start. `store`: it lives in the store, is changed with `npm run admin` and re-read every `KEYS_POLL_SECONDS` without a restart (the first service to start on an empty store imports `APPS_FILE`)',
});

export const APPS_SETTINGS = [APPS_FILE, APPS_SOURCE] as const;
