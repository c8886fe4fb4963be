/**
 * Loads a chunk of the page's code that not every page needs (the node-forge envelope, the
 * second-factor actions) as a script of its own, which registers itself on `window` under
 * `name`. Resolves with what it registered; a chunk that cannot load is a network error.
 */
import { PAGE_CODES, PageError } from './errors.ts';

const LOAD_TIMEOUT_MS = 20_000;
const loading = new Map<string, Promise<unknown>>();

function load<T>(src: string, name: string): Promise<T> {
  const registered = () => (window as unknown as Record<string, T | undefined>)[name];
  return new Promise<T>((resolve, reject) => {
    const ready = registered();
    if (ready) return resolve(ready);
    const script = document.createElement('script');
    const fail = () => {
      clearTimeout(timer);
      script.remove();
      reject(new PageError(PAGE_CODES.network));
    };
    const timer = setTimeout(fail, LOAD_TIMEOUT_MS);
    script.addEventListener('load', () => {
      clearTimeout(timer);
      const chunk = registered();
      if (chunk) resolve(chunk);
      else fail();
    });
    script.addEventListener('error', fail);
    script.src = src;
    script.async = true;
    document.head.appendChild(script);
  });
}

/** The chunk at `src`, loaded once (a failed load may be tried again). */
export function loadChunk<T>(src: string, name: string): Promise<T> {
  let pending = loading.get(name) as Promise<T> | undefined;
  if (!pending) {
    pending = load<T>(src, name);
    loading.set(name, pending);
    pending.catch(() => loading.delete(name));
  }
  return pending;
}
