/** The third-party demo's setting: which registry entry it signs as. */
import { stringSetting } from '../platform/config/settings.ts';

export const DEMO_APP_ID = stringSetting('DEMO_APP_ID', { def: 'demo-app', range: 'an `appId` in `APPS_FILE`', doc: 'which registry entry the demo app uses' });

export const DEMO_SETTINGS = [DEMO_APP_ID] as const;
