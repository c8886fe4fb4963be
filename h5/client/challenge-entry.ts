/**
 * The challenge client's bundle (`/h5/assets/challenge.js`, loaded by gate-hook.ts): configures
 * itself from the page (`data-gateway`) and its own URL (the worker beside it), and registers as
 * `window.__h5Challenge`.
 */
import { configureChallenge, gated, gatedFrom, obtainPass } from './challenge.ts';

const self = document.currentScript as HTMLScriptElement | null;
configureChallenge((document.body.dataset.gateway ?? '').replace(/\/+$/, ''), new URL('pow-worker.js', self?.src ?? location.href).href);
window.__h5Challenge = { gated, gatedFrom, obtainPass };
