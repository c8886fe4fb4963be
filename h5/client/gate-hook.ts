/**
 * The page's hook for the proof-of-work gate (docs/protocol.md section 7), the only part of it in
 * app.js: a gated call goes out as before; its first `401 pow_required` loads the challenge client
 * (`challenge.js`, a same-origin script: CSP script-src 'self'), which then handles this call and
 * every later one (credentials, the pass, solving with progress).
 */
import type { Authorize } from './jwe-compact.ts';
/** Sends a gated request with these extra headers and credentials mode; the raw answer. */
export type GatedSend = (headers: Record<string, string>, credentials: RequestCredentials) => Promise<Response>;

/** What challenge.js registers as `window.__h5Challenge`. */
export interface ChallengeClient {
  gated(send: GatedSend): Promise<Response>;
  gatedFrom(first: Response, send: GatedSend): Promise<Response>;
  obtainPass(authorize: Authorize): Promise<void>;
}

declare global {
  interface Window {
    __h5Challenge?: ChallengeClient;
  }
}

let client: ChallengeClient | undefined;
let assets = '';

/** The folder of challenge.js (beside the forge script, /h5/assets/). */
export function configureGate(assetsUrl: string): void {
  assets = assetsUrl;
}

/**
 * A call to a gated route (the exchange, the product). A `401` whose `WWW-Authenticate` names our
 * `BrokerPoW` scheme (`pow_required`) loads challenge.js (which reads the gateway from the page's
 * `data-gateway`) and hands it the call; if it does not load, the 401 stands and the page shows
 * `pow_required` with "Try again".
 */
export async function gated(send: GatedSend): Promise<Response> {
  if (client) return client.gated(send);
  return gatedAfter(await send({}, 'omit'), send);
}

/**
 * The same for a call whose first attempt was already sent (without credentials or extra headers:
 * the boot script's exchange): `first` is its answer.
 */
export async function gatedAfter(first: Response, send: GatedSend): Promise<Response> {
  if (client) return client.gatedFrom(first, send);
  if (first.status !== 401 || !/^BrokerPoW /.test(first.headers.get('WWW-Authenticate') || '')) return first;
  if (!window.__h5Challenge) {
    await new Promise((done) => {
      const script = document.createElement('script');
      script.onload = script.onerror = done;
      script.src = new URL('challenge.js', assets).href;
      document.head.appendChild(script);
    });
  }
  client = window.__h5Challenge;
  return client ? client.gatedFrom(first, send) : first;
}

/** After the exchange: a pass, where the gate is on (else nothing). */
export async function obtainPass(authorize: Authorize): Promise<void> {
  if (client) await client.obtainPass(authorize);
}
