/**
 * The proof-of-work Web Worker (bundled to /h5/assets/pow-worker.js): searches a challenge slice by
 * slice and posts `{progress}` after each, then `{number}` (-1: none below maxnumber).
 */
import { searchSlice, SLICE, isAltchaChallenge } from './pow-solver.ts';

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
}
const scope = self as unknown as WorkerScope;

scope.onmessage = (e: MessageEvent) => {
  const c = e.data as unknown;
  if (!isAltchaChallenge(c)) return scope.postMessage({ number: -1 });
  for (let from = 0; from <= c.maxnumber; from += SLICE) {
    const n = searchSlice(c, from);
    if (n >= 0) return scope.postMessage({ number: n });
    scope.postMessage({ progress: Math.min(1, (from + SLICE) / (c.maxnumber + 1)) });
  }
  scope.postMessage({ number: -1 });
};
