/** Runs the H5 page server and the sample product backend. */
import { runComponents } from '../scripts/run.ts';

await runComponents(['h5', 'products']);
