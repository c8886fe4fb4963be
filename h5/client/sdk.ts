/**
 * The H5 SDK for product teams (docs/h5-products.md): the browser side of a product page, without
 * the sample page's rendering. `startSession` takes the AT from the URL fragment, seals it in the
 * envelope (WebCrypto, or node-forge loaded only where `crypto.subtle` is missing), trades it for
 * a VT, and returns a session whose `product()` calls the product API with the VT. The session
 * ends, clearly, when the VT does (`vt_invalid`, or its lifetime passed): there is no renewal
 * without a new AT from the app, so `onEnd` tells the page to send the user back.
 *
 * Served as an ES module (`/h5/assets/h5-sdk.mjs`) and as one classic script
 * (`/h5/assets/h5-sdk.js`, global `H5Broker`). The AT, R and the VT live only in the session.
 */
import { takeAccessToken } from './access-token.ts';
import { FINAL_CODES, PAGE_CODES, toPageError } from './errors.ts';
import { loadEnvelope, sealToPreferredKey } from './envelope-loader.ts';
import { fetchEncryptionJwks, fetchProduct, postEnvelope, toVisitToken } from './gateway-api.ts';
import type { SealedEnvelope } from './jwe-compact.ts';

export interface SessionOptions {
  /** The gateway's public URL (GATEWAY_PUBLIC_URL). */
  gateway: string;
  /** The AT; by default taken from `#at=` in the page URL (and erased from it at once). */
  at?: string | null;
  /** Where the node-forge envelope bundle is; by default next to this script. */
  forgeSrc?: string;
  /** Further exchange attempts after a failure whose outcome is unknown (same envelope); 2 by default. */
  retries?: number;
}

/** A failure of the SDK: the broker's problem `code`, or the page's own (docs/errors.md). */
export class H5Error extends Error {
  readonly code: string;
  readonly status: number | undefined;
  /** True when trying again cannot help: the user has to go back to the app for a new link. */
  readonly final: boolean;
  constructor(code: string, status?: number) {
    super(code);
    this.name = 'H5Error';
    this.code = code;
    this.status = status;
    this.final = FINAL_CODES.has(code) || code === 'session_ended';
  }
}

export interface H5Session {
  readonly userId: string;
  readonly productId: string;
  /** When the VT expires (unix seconds, by this browser's clock). */
  readonly expiresAt: number;
  /** True once the VT is gone (revoked, expired): a new session needs a new AT from the app. */
  readonly ended: boolean;
  /** `GET /v1/products/<productId>` with the VT (this session's product by default); the backend's JSON. */
  product<T = unknown>(productId?: string): Promise<T>;
  /** Called once when the session ends, with the code that ended it. */
  onEnd(listener: (code: string) => void): void;
}

const UNKNOWN_OUTCOME = new Set([PAGE_CODES.network, 'store_unavailable', 'upstream_unavailable', 'starting']);
const scriptSrc = typeof document !== 'undefined' && document.currentScript instanceof HTMLScriptElement ? document.currentScript.src : '';

/** The SDK's reader of `#at=<AT>`, the page's own (it erases the fragment at once). */
export { takeAccessToken };

const toH5Error = (e: unknown): H5Error => {
  if (e instanceof H5Error) return e;
  const p = toPageError(e);
  return new H5Error(p.code, p.status);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Opens the session: AT -> envelope -> VT. A failure whose outcome is unknown (no answer, 503) is
 * retried with the very same envelope (the same R: protocol section 2, "The page's retry"), never
 * sealed again, which would revoke the VT the first attempt may have had.
 */
export async function startSession(opts: SessionOptions): Promise<H5Session> {
  const gateway = opts.gateway.replace(/\/+$/, '');
  const at = opts.at === undefined ? takeAccessToken() : opts.at;
  if (!at) throw new H5Error(PAGE_CODES.atMissing);
  const forgeSrc = opts.forgeSrc ?? (scriptSrc ? new URL('envelope-forge.js', scriptSrc).href : '/h5/assets/envelope-forge.js');
  let sealed: SealedEnvelope;
  try {
    const impl = await loadEnvelope(forgeSrc);
    document.body.dataset.envelope = impl.name;
    const keys = await fetchEncryptionJwks(gateway, impl.algorithms);
    sealed = await sealToPreferredKey(impl, keys, at, Math.floor(Date.now() / 1000));
  } catch (e) {
    throw toH5Error(e);
  }
  const retries = opts.retries ?? 2;
  for (let attempt = 0; ; attempt++) {
    try {
      const reply = await postEnvelope(gateway, sealed.jwe, () => undefined);
      const vt = toVisitToken(await sealed.openReply(reply));
      return session(gateway, vt.vt, vt.userId, vt.productId, Math.floor(Date.now() / 1000) + vt.expiresIn);
    } catch (e) {
      const err = toH5Error(e);
      if (attempt >= retries || !UNKNOWN_OUTCOME.has(err.code)) throw err;
      await sleep(500 * 2 ** attempt);
    }
  }
}

function session(gateway: string, vt: string, userId: string, productId: string, expiresAt: number): H5Session {
  let ended = false;
  const listeners: ((code: string) => void)[] = [];
  const end = (code: string) => {
    if (ended) return;
    ended = true;
    for (const l of listeners.splice(0)) l(code);
  };
  return {
    userId, productId, expiresAt,
    get ended() {
      return ended;
    },
    onEnd(listener) {
      listeners.push(listener);
    },
    async product<T>(id = productId): Promise<T> {
      if (!ended && Date.now() / 1000 >= expiresAt) end('session_ended');
      if (ended) throw new H5Error('session_ended');
      try {
        return (await fetchProduct(gateway, id, vt)) as T;
      } catch (e) {
        const err = toH5Error(e);
        if (err.code === 'vt_invalid') end('vt_invalid');
        throw err;
      }
    },
  };
}

