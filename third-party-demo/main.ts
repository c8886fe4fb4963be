/** Runs the third-party demo app on its own. */
import { runComponents } from '../system/run.ts';

await runComponents(['demo']);
