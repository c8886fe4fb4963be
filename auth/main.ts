/** Runs the auth on its own (needs REDIS_URL and INTERNAL_TOKEN shared with the other components). */
import { runComponents } from '../system/run.ts';

await runComponents(['auth']);
