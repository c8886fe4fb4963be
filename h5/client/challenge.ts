/**
 * The page's side of the proof-of-work gate (flows/challenge, protocol section 7): a gated call
 * answered `401 pow_required` is sent again with the pass cookie (credentials) once the page knows
 * the gate is on, then with the pass as the `Broker-Pass` header when the cookie did not come back
 * (WebViews and browsers that block or partition third-party cookies), and otherwise after solving
 * the challenge ("Checking your browser…", with progress) in a Web Worker, or on the main thread
 * in slices where there is no Worker. After the exchange the page asks for a pass bound to a P-256
 * key it makes (non-extractable) and refreshes it against a server nonce before it expires.
 */
import type { Authorize } from './jwe-compact.ts';
import { PageError } from './errors.ts';
import type { GatedSend } from './gate-hook.ts';
import { isAltchaChallenge, searchSlice, SLICE, solutionPayload, type AltchaChallenge } from './pow-solver.ts';

export const SOLUTION_HEADER = 'Broker-PoW';
export const PASS_HEADER = 'Broker-Pass';
/** Refresh a pass this long before it expires (s). */
const REFRESH_MARGIN_S = 60;


interface Pass {
  value: string;
  /** Unix s. */
  exp: number;
  refreshUntil: number;
}

const state: {
  gateway: string;
  workerSrc: string;
  gateOn: boolean;
  useHeader: boolean;
  pass: Pass | null;
  key: CryptoKeyPair | null;
  jwk: JsonWebKey | null;
} = { gateway: '', workerSrc: '', gateOn: false, useHeader: false, pass: null, key: null, jwk: null };

export function configureChallenge(gateway: string, workerSrc: string): void {
  state.gateway = gateway;
  state.workerSrc = workerSrc;
}


const nowS = () => Math.floor(Date.now() / 1000);

function credentials(): RequestCredentials {
  return state.gateOn ? 'include' : 'omit';
}
function passHeaders(): Record<string, string> {
  return state.pass && state.useHeader ? { [PASS_HEADER]: state.pass.value } : {};
}

/** The `altcha` challenge of a `401 pow_required` answer, or undefined. */
async function challengeOf(res: Response): Promise<AltchaChallenge | undefined> {
  if (res.status !== 401) return undefined;
  try {
    const body = (await res.clone().json()) as { code?: unknown; altcha?: unknown };
    return body.code === 'pow_required' && isAltchaChallenge(body.altcha) ? body.altcha : undefined;
  } catch {
    return undefined;
  }
}

/** Sends a request to a gated route, meeting the gate as the header comment says. */
export async function gated(send: GatedSend): Promise<Response> {
  await refreshIfDue();
  return gatedFrom(await send(passHeaders(), credentials()), send);
}

/** Goes on from `first`, the answer to a request sent without a proof of work. */
export async function gatedFrom(first: Response, send: GatedSend): Promise<Response> {
  let res = first;
  for (let round = 0; round < 4; round++) {
    const challenge = await challengeOf(res);
    if (!challenge) return res;
    if (!state.gateOn) {
      // A pass cookie from an earlier visit may come back now that the page sends credentials.
      state.gateOn = true;
      res = await send(passHeaders(), 'include');
      continue;
    }
    if (state.pass && !state.useHeader && state.pass.exp > nowS()) {
      // The cookie did not come back: the same pass as a header from now on.
      state.useHeader = true;
      res = await send(passHeaders(), 'include');
      continue;
    }
    state.pass = null;
    res = await send({ [SOLUTION_HEADER]: await solve(challenge) }, 'include');
  }
  return res;
}

// --- Solving, with progress ---------------------------------------------------------------

function progressBox(): HTMLElement | null {
  let box = document.getElementById('pow-progress');
  if (box) return box;
  const root = document.getElementById('app');
  if (!root) return null;
  box = document.createElement('div');
  box.id = 'pow-progress';
  box.className = 'pow';
  box.setAttribute('role', 'status');
  box.setAttribute('aria-live', 'polite');
  const text = document.createElement('p');
  text.className = 'pow-text';
  text.textContent = 'Checking your browser…';
  const bar = document.createElement('progress');
  bar.max = 100;
  bar.value = 0;
  box.append(text, bar);
  root.append(box);
  return box;
}

function showProgress(fraction: number): void {
  const percent = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
  document.body.dataset.pow = 'solving';
  document.body.dataset.powProgress = String(percent);
  const bar = progressBox()?.querySelector('progress');
  if (bar) bar.value = percent;
}

function hideProgress(): void {
  document.body.dataset.pow = 'solved';
  document.getElementById('pow-progress')?.remove();
}

function solveInWorker(c: AltchaChallenge): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(state.workerSrc);
    worker.onmessage = (e: MessageEvent) => {
      const m = e.data as { progress?: number; number?: number };
      if (typeof m.progress === 'number') return showProgress(m.progress);
      worker.terminate();
      resolve(typeof m.number === 'number' ? m.number : -1);
    };
    worker.onerror = () => {
      worker.terminate();
      reject(new Error('worker failed'));
    };
    worker.postMessage(c);
  });
}

/** Without a Worker: the same search in slices, letting the page paint between them. */
async function solveOnMainThread(c: AltchaChallenge): Promise<number> {
  document.body.dataset.powSolver = 'main-thread';
  for (let from = 0; from <= c.maxnumber; from += SLICE) {
    const n = searchSlice(c, from);
    if (n >= 0) return n;
    showProgress((from + SLICE) / (c.maxnumber + 1));
    await new Promise((r) => setTimeout(r, 0));
  }
  return -1;
}

async function solve(c: AltchaChallenge): Promise<string> {
  const started = Date.now();
  showProgress(0);
  let number: number;
  if (typeof Worker !== 'undefined' && state.workerSrc) {
    document.body.dataset.powSolver = 'worker';
    number = await solveInWorker(c).catch(() => solveOnMainThread(c));
  } else {
    number = await solveOnMainThread(c);
  }
  hideProgress();
  if (number < 0) throw new PageError('pow_required', 401);
  return solutionPayload(c, number, Date.now() - started);
}

// --- The pass ---------------------------------------------------------------------------------

function b64url(buf: ArrayBuffer): string {
  let s = '';
  const bytes = new Uint8Array(buf);
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function passCall(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${state.gateway}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...passHeaders(), ...headers },
    body: JSON.stringify(body ?? {}),
    credentials: 'include',
    referrerPolicy: 'no-referrer',
    cache: 'no-store',
  });
}

async function takePass(res: Response): Promise<void> {
  if (!res.ok) return;
  const body = (await res.json()) as { pass?: unknown; expiresIn?: unknown; refreshUntil?: unknown };
  if (typeof body.pass !== 'string' || typeof body.expiresIn !== 'number' || typeof body.refreshUntil !== 'number') return;
  state.pass = { value: body.pass, exp: nowS() + body.expiresIn, refreshUntil: body.refreshUntil };
  document.body.dataset.pass = 'held';
}

/**
 * After the exchange, when the gate is on: a pass for this VT, bound to a fresh P-256 key whose
 * private half cannot leave the browser. Without crypto.subtle (old WebViews, plain-http origins)
 * there is no key, so no pass: such a page solves a challenge when asked. Never fails the page.
 */
export async function obtainPass(authorize: Authorize): Promise<void> {
  if (!state.gateOn || state.pass || typeof crypto === 'undefined' || !crypto.subtle) return;
  try {
    state.key = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', state.key.publicKey);
    state.jwk = { kty, crv, x, y };
    await takePass(await passCall('/v1/challenge/pass', { jwk: state.jwk }, await authorize('POST', `${state.gateway}/v1/challenge/pass`)));
  } catch {
    state.pass = null;
  }
}

/** A new pass against a server nonce signed with the page's key, when the pass expires soon. */
async function refreshIfDue(): Promise<void> {
  const p = state.pass;
  if (!p || !state.key || !state.jwk || p.exp - REFRESH_MARGIN_S > nowS()) return;
  try {
    if (p.refreshUntil <= nowS()) throw new Error('too old');
    const n = await passCall('/v1/challenge/nonce', {});
    const { nonce } = (await n.json()) as { nonce?: unknown };
    if (!n.ok || typeof nonce !== 'string') throw new Error('no nonce');
    const message = new TextEncoder().encode(`h5-broker pass refresh v1\n${nonce}\n${location.origin}`);
    const proof = b64url(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, state.key.privateKey, message));
    const res = await passCall('/v1/challenge/refresh', { nonce, jwk: state.jwk, proof });
    if (!res.ok) throw new Error('refused');
    await takePass(res);
    document.body.dataset.pass = 'refreshed';
  } catch {
    state.pass = null;
  }
}
