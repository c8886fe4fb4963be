/**
 * The page's hook for the proof-of-work gate (docs/protocol.md section 6), the only part of it in
 * app.js: a gated call goes out as before; its first `401 pow_required` loads the challenge client
 * (`challenge.js`, a same-origin script: CSP script-src 'self'), which then handles this call and
 * every later one (credentials, the pass, solving with progress).
 */
import { PAGE_CODES, PageError } from './errors.ts';

/** Sends a gated request with these extra headers and credentials mode; the raw answer. */
export type GatedSend = (headers: Record<string, string>, credentials: RequestCredentials) => Promise<Response>;

/** What challenge.js registers as `window.__h5Challenge`. */
export interface ChallengeClient {
  configureChallenge(gateway: string, workerSrc: string): void;
  gated(send: GatedSend): Promise<Response>;
  gatedFrom(first: Response, send: GatedSend): Promise<Response>;
  obtainPass(vt: string): Promise<void>;
}

declare global {
  interface Window {
    __h5Challenge?: ChallengeClient;
  }
}

const LOAD_TIMEOUT_MS = 20_000;
let gateway = '';
let assets = '';
let client: ChallengeClient | undefined;

/** Where the gateway is, and the folder of the challenge client and its worker (beside the forge script). */
export function configureGate(gatewayUrl: string, assetsBase: string): void {
  gateway = gatewayUrl;
  assets = assetsBase;
}

/** Loads challenge.js once (a same-origin script); a network failure after 20 s. */
function loadClient(): Promise<ChallengeClient> {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    const done = () => {
      clearTimeout(timer);
      const c = window.__h5Challenge;
      if (!c) return reject(new PageError(PAGE_CODES.network));
      c.configureChallenge(gateway, new URL('pow-worker.js', assets).href);
      resolve(c);
    };
    const timer = setTimeout(done, LOAD_TIMEOUT_MS);
    script.onload = script.onerror = done;
    script.src = new URL('challenge.js', assets).href;
    document.head.appendChild(script);
  });
}

/**
 * A call to a gated route (the exchange, the product). A `401` whose `WWW-Authenticate` names our
 * `BrokerPoW` scheme (`pow_required`) hands the call to the challenge client.
 */
export async function gated(send: GatedSend): Promise<Response> {
  if (client) return client.gated(send);
  const first = await send({}, 'omit');
  if (first.status !== 401 || !/^BrokerPoW /.test(first.headers.get('WWW-Authenticate') || '')) return first;
  client = client || (await loadClient());
  return client.gatedFrom(first, send);
}

/** After the exchange: a pass, where the gate is on (else nothing). */
export async function obtainPass(vt: string): Promise<void> {
  if (client) await client.obtainPass(vt);
}
