/** Runs the named components (comma-separated argument) through the operator's start path (system/run.ts). */
import { runComponents } from '../../system/run.ts';
import type { ComponentName } from '../../system/start.ts';

await runComponents(process.argv[2]!.split(',') as ComponentName[]);
