/** Runs the third-party demo app on its own. */
import { runComponents } from '../scripts/run.ts';

await runComponents(['demo']);
