/** The app registry's settings. */
import { stringSetting } from '../../platform/config/settings.ts';

export const APPS_FILE = stringSetting('APPS_FILE', {
  def: 'config/apps.json',
  range: 'a path',
  doc: 'the registry of third-party apps and product backends (see [below](#the-app-registry-apps_file))',
});

export const APPS_SETTINGS = [APPS_FILE] as const;
