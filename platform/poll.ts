/**
 * Re-reads something every `everyMs` in the background: a failed read is passed to `onError` and
 * the caller keeps what it had; the timer never keeps the process alive. Returns the stop function.
 */
export function pollInBackground(read: () => Promise<unknown>, everyMs: number, onError: (err: Error) => void): () => void {
  const timer = setInterval(() => {
    read().catch((err) => onError(err as Error));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
