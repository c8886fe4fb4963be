/** Runs the H5 page server and the sample product backend. */
import { runComponents } from '../system/run.ts';

await runComponents(['h5', 'products']);
