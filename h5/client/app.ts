/**
 * The H5 product page (browser entry, bundled to /h5/assets/app.js): takes the AT from the URL
 * fragment, trades it for a VT through the random-key envelope (protocol section 2), and renders
 * the product from the product API (section 3).
 *
 * The AT lives only in the `session` variable below: never in storage, never in the URL, and is
 * dropped the moment the gateway accepts it. Where WebCrypto and IndexedDB exist, the page makes its
 * own non-extractable P-256 key (the session chunk, session.js, loaded in parallel with the JWKS),
 * sends its public half in the envelope, gets a VT bound to it, signs a DPoP proof for every product
 * call, and keeps the VT and the key in IndexedDB: a reload picks the session up without a new AT.
 * Without them (the forge path) the VT is a bearer token kept in memory only, and a reload says so. A retry after a failure whose outcome is
 * unknown (no answer, a timeout, 503) sends the very same sealed envelope again, with the same R:
 * if the first exchange did spend the AT, the gateway answers the same VT again (protocol section 2,
 * "The page's retry"), where a new R would count as a replay and revoke it.
 */
import { showError, showLoading, showProduct } from './render.ts';
import { takeAccessToken } from './access-token.ts';
import { FINAL_CODES, PAGE_CODES, PageError, toPageError } from './errors.ts';
import { sealToPreferredKey } from './seal-preferred.ts';
import { encryptionJwksFrom, fetchJwks, fetchProduct, postExchange, toVisitToken } from './gateway-api.ts';
import { parseProduct } from './product.ts';
import { loadChunk } from './script-loader.ts';
import { createPageKey, signDpopProof } from './page-key.ts';
import { readBootData } from './boot-data.ts';
import type { SecondFactorChunk } from './second-factor-actions.ts';
import type { Authorize, BootExchange, EnvelopeImpl, PageKey, SealedEnvelope, SessionApi } from './jwe-compact.ts';
import { configureGate, obtainPass } from './gate-hook.ts';
import type { CountersignChunk } from './countersign.ts';

interface PageConfig {
  gateway: string;
  productId: string;
  forgeSrc: string;
  secondFactorSrc: string;
  countersignSrc: string;
  sessionSrc: string;
  webcryptoSrc: string;
}

interface Session {
  /** The AT, until the gateway accepts it (or refuses it for good). */
  at: string | null;
  /** The envelope sent for the AT (and its R), kept until the exchange is settled, for a retry. */
  sealed: SealedEnvelope | null;
  /** The VT, once the exchange succeeded. */
  vt: string | null;
  /** The page's key the VT is bound to (WebCrypto path), or null (a bearer VT, memory only). */
  key: PageKey | null;
  /** The session chunk, loading, where this browser can keep a session; else null. */
  api: Promise<SessionApi> | null;
  /** What the boot script started for the AT (boot.ts), until the exchange takes it up. */
  boot: Promise<BootExchange> | null;
}

function readConfig(): PageConfig | null {
  const data = document.body.dataset;
  const gateway = (data.gateway ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+/.test(gateway) || !data.productId) return null;
  return { gateway, productId: data.productId, forgeSrc: data.forgeSrc || '/h5/assets/envelope-forge.js', secondFactorSrc: data.secondFactorSrc || '/h5/assets/second-factor.js', countersignSrc: data.countersignSrc || '/h5/assets/countersign.js', sessionSrc: data.sessionSrc || '/h5/assets/session.js', webcryptoSrc: data.webcryptoSrc || '/h5/assets/envelope-webcrypto.js' };
}

/** Authorization for calls with `vt`: bound to the page's key (a DPoP proof per call) where the session has one. */
function authorizer(vt: string, key: PageKey | null): Authorize {
  return async (method, url): Promise<Record<string, string>> => {
    if (!key) return { Authorization: `Bearer ${vt}` };
    return { Authorization: `DPoP ${vt}`, DPoP: await signDpopProof(key, method, url, vt) };
  };
}

/**
 * The envelope code: WebCrypto's as the boot script handed it over (or its chunk, where the boot
 * script did not run), node-forge's where WebCrypto is missing; each a same-origin script (CSP
 * script-src 'self').
 */
function loadPageEnvelope(config: PageConfig): Promise<EnvelopeImpl> {
  if (!(window.crypto && window.crypto.subtle)) return loadChunk<EnvelopeImpl>(config.forgeSrc, '__h5EnvelopeForge');
  return window.__h5WebCrypto ? Promise.resolve(window.__h5WebCrypto) : loadChunk<EnvelopeImpl>(config.webcryptoSrc, '__h5WebCrypto');
}

/**
 * AT -> VT through the envelope. R lives only inside `session.sealed` and dies with it: it is kept
 * while a retry may need it (the same envelope, so the same R) and dropped once the exchange is
 * settled either way.
 */
async function exchange(config: PageConfig, session: Session): Promise<{ vt: string; product?: unknown }> {
  const at = session.at;
  if (!at) throw new PageError(PAGE_CODES.atMissing);
  let sent: Promise<Response | undefined> | undefined;
  const boot = session.boot && (await session.boot.catch(() => null));
  session.boot = null;
  if (!session.sealed && boot) {
    // Sealed and sent by the boot script while app.js was on its way: its answer is read below.
    session.key = boot.key;
    session.sealed = boot.sealed;
    sent = boot.answer;
    document.body.dataset.envelope = 'webcrypto';
    document.body.dataset.envelopeAlg = boot.sealed.alg;
    document.body.dataset.boot = 'sent';
  }
  if (!session.sealed) {
    // The JWKS, the envelope code (forge only where WebCrypto is missing) and the session chunk
    // (with the page's new key) load in parallel.
    const [impl, jwks, key] = await Promise.all([
      loadPageEnvelope(config), readBootData()?.jwks ?? fetchJwks(config.gateway), session.api ? createPageKey() : null,
    ]);
    session.key = key;
    document.body.dataset.envelope = impl.name;
    // WebCrypto prefers the ECDH-ES+A256KW key, forge can only use the RSA-OAEP-256 one.
    const keys = encryptionJwksFrom(jwks, impl.algorithms);
    session.sealed = await sealToPreferredKey(impl, keys, at, Math.floor(Date.now() / 1000), key ? key.jwk : undefined);
    document.body.dataset.envelopeAlg = session.sealed.alg;
  }
  const sealed = session.sealed;
  // The product document comes in the same answer (one round trip to a rendered product).
  const reply = await postExchange(config.gateway, sealed.jwe, () => {
    session.at = null; // accepted: the AT is spent
    session.sealed = null;
  }, 'product', sent);
  const { vt, expiresIn, productId } = toVisitToken(await sealed.openReply(reply.envelope));
  // Kept for a reload while the product call goes out (not on its critical path).
  const key = session.key;
  if (session.api && key) session.api.then((api) => api.save(config.productId, { vt, key }, expiresIn)).catch(() => undefined);
  // Where the gateway asked for a proof of work: a pass, so that the next calls skip it.
  await obtainPass(authorizer(vt, session.key));
  // The document is the VT's product: used only when that is this page's (a token for another
  // product gets forbidden_product from the page's own call, as before).
  return { vt, product: productId === config.productId ? reply.product : undefined };
}

function hasSecondFactorActions(raw: unknown): boolean {
  const list = (raw as { secondFactorActions?: unknown } | null)?.secondFactorActions;
  return Array.isArray(list) && list.length > 0;
}

async function run(root: HTMLElement, config: PageConfig, session: Session): Promise<void> {
  showLoading(root);
  try {
    let prefetched: unknown;
    if (!session.vt) ({ vt: session.vt, product: prefetched } = await exchange(config, session));
    const { vt, key } = session;
    const proofFor = key ? async (url: string) => signDpopProof(key, 'GET', url, vt) : undefined;
    const raw = prefetched ?? await fetchProduct(config.gateway, config.productId, vt, proofFor);
    const product = parseProduct(raw);
    showProduct(root, product);
    // The demo action "Confirm payment" (countersign flow), only where WebCrypto and a relay bridge
    // exist: a chunk of its own, loaded only then.
    if (product.price && window.crypto?.subtle && window.countersignRelay) {
      const chunk = await loadChunk<CountersignChunk>(config.countersignSrc, '__h5Countersign');
      chunk.offerPaymentConfirmation(root, { gateway: config.gateway, productId: config.productId, vt, authorize: authorizer(vt, key), ...product.price, payee: product.name });
    }
    // The second-factor actions are a chunk of their own, loaded only for a product that has any.
    if (hasSecondFactorActions(raw)) {
      const chunk = await loadChunk<SecondFactorChunk>(config.secondFactorSrc, '__h5SecondFactor');
      chunk.mountSecondFactorActions(root, config.gateway, config.productId, authorizer(vt, key), raw);
    }
  } catch (e) {
    const error = toPageError(e);
    if (error.code === 'at_invalid') session.at = null;
    // An envelope the gateway could not open is sealed afresh next time (the keys may have changed).
    if (error.code === 'at_invalid' || error.code === 'envelope_invalid') session.sealed = null;
    if (error.code === 'vt_invalid' || error.code === 'dpop_invalid') {
      session.vt = null;
      if (session.api) session.api.then((api) => api.clear(config.productId)).catch(() => undefined);
    }
    // Retry the step that failed: the product call when a VT is held, else the exchange while
    // the AT is still unspent. Never anything that would send a spent AT again.
    const canRetry = !FINAL_CODES.has(error.code) && (session.vt !== null || session.at !== null);
    showError(root, error, canRetry ? () => void run(root, config, session) : undefined);
  }
}

function start(): void {
  const root = document.getElementById('app');
  if (!root) return;
  // The boot script (inlined in the page) may have taken the AT and started the exchange already.
  const boot = window.__h5Boot;
  delete window.__h5Boot;
  const session: Session = { at: boot ? boot.at : takeAccessToken(), sealed: null, vt: null, key: null, api: null, boot: boot ? boot.exchange : null };
  const config = readConfig();
  if (!config) return showError(root, PAGE_CODES.config);
  // The proof-of-work client and its worker sit beside the forge script (/h5/assets/).
  configureGate(new URL(config.forgeSrc, location.href).href);
  // Non-extractable keys need WebCrypto; keeping them, IndexedDB.
  if (window.crypto && crypto.subtle && window.indexedDB) {
    session.api = loadChunk<SessionApi>(config.sessionSrc, '__h5Session');
    session.api.catch(() => undefined);
  }
  if (session.at) return void run(root, config, session);
  if (!session.api) return showError(root, PAGE_CODES.notKept);
  // No AT: a reload, or a WebView the system recreated. The session kept in IndexedDB, if any.
  void session.api.then((api) => api.restore(config.productId)).then(
    (kept) => {
      if (!kept) return showError(root, PAGE_CODES.atMissing);
      session.vt = kept.vt;
      session.key = kept.key;
      document.body.dataset.session = 'restored';
      void run(root, config, session);
    },
    () => showError(root, PAGE_CODES.atMissing),
  );
}

start();
