/**
 * The demo product action "Confirm payment" on the H5 page (countersign flow, docs/protocol.md
 * "Countersigning"): the page is the device. It holds a device key made in WebCrypto as
 * non-extractable (only its public half leaves the page, registered once with the VT), pins the
 * broker's signing keys from the JWKS while online, and then speaks to the authorization device
 * (the relay) only over the near link the native host offers: `window.countersignRelay(message)`,
 * a function that takes one JSON message and resolves with the relay's answer. The page checks
 * that the object the relay brings is signed by a pinned key and says what it applied for, shows
 * amount and payee, and only on "Sign" countersigns exactly those bytes.
 *
 * Kept out of app.ts and render.ts (one call from app.ts): its own section below the product.
 */
import type { Authorize } from './jwe-compact.ts';
import { friendlyMessage, type FriendlyMessage } from './errors.ts';
import type { ProblemCode } from '../../protocol/problems.ts';

/**
 * Words for the codes only this section meets (key registration and the payment's answer); kept in
 * this chunk so that app.js does not carry them. Anything else reads as the page's other errors do.
 */
export const PAYMENT_MESSAGES: Readonly<Partial<Record<ProblemCode, FriendlyMessage>>> = {
  device_key_invalid: {
    title: 'This device cannot confirm payments',
    text: 'Its key is not registered to you or was revoked. Register the device again from the app.',
  },
  countersign_replayed: {
    title: 'Already confirmed',
    text: 'This approval was already used. Start the payment again to confirm it anew.',
  },
  grant_invalid: {
    title: 'The approval is no longer valid',
    text: 'It expired or could not be checked. Start the payment again.',
  },
  params_mismatch: {
    title: 'The payment changed',
    text: 'What was approved is not what is being paid. Start the payment again and check the amount and payee.',
  },
  level_not_met: {
    title: 'More confirmation needed',
    text: 'This payment needs your offline authorization password as well.',
  },
};

function paymentMessage(code: string): FriendlyMessage {
  return (PAYMENT_MESSAGES as Record<string, FriendlyMessage | undefined>)[code] ?? friendlyMessage(code);
}
import { canonicalParams, COUNTERSIGN_PATHS, COUNTERSIGNATURE_TYP, TBS_TYP, type Application, type TbsClaims } from '../../protocol/countersign.ts';

/** The near link the native host (the WebView's bridge to the authorization device) offers. */
type RelayBridge = (message: string) => Promise<string>;
declare global {
  interface Window {
    countersignRelay?: RelayBridge;
  }
}

export interface PaymentOffer {
  gateway: string;
  productId: string;
  vt: string;
  /** The Authorization headers for a call with the VT (its DPoP proof where it is bound). */
  authorize: Authorize;
  amount: string;
  currency: string;
  payee: string;
}

const enc = new TextEncoder();

/** Every gateway call as the page's others (gateway-api.ts): no cookies, no Referer, no cache, 15 s at most. */
async function call(url: string, init: RequestInit = {}): Promise<Response> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15_000);
  try {
    return await fetch(url, { ...init, credentials: 'omit', referrerPolicy: 'no-referrer', cache: 'no-store', signal: controller.signal });
  } catch {
    throw new Error('network_error');
  } finally {
    clearTimeout(timer);
  }
}
const b64u = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
function fromB64u(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
const sha256 = async (data: string) => b64u(new Uint8Array(await crypto.subtle.digest('SHA-256', enc.encode(data))));
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

interface DeviceKey {
  privateKey: CryptoKey;
  kid: string;
}

let deviceKey: Promise<DeviceKey> | undefined;
let pinned: Promise<Map<string, CryptoKey>> | undefined;

/** The device key: made once per page, non-extractable, its public half registered with the VT. */
function ensureDeviceKey(offer: PaymentOffer): Promise<DeviceKey> {
  deviceKey ??= (async () => {
    const pair = (await crypto.subtle.generateKey(ECDSA, false, ['sign', 'verify'])) as CryptoKeyPair;
    const jwk = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const kid = await sha256(JSON.stringify({ crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y }));
    const url = `${offer.gateway}${COUNTERSIGN_PATHS.registerKey}`;
    const res = await call(url, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(await offer.authorize('POST', url)) },
      body: JSON.stringify({ kind: 'device', jwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } }),
    });
    if (res.status !== 201) throw new Error(((await res.json().catch(() => ({}))) as { code?: string }).code ?? 'device_key_invalid');
    return { privateKey: pair.privateKey, kid };
  })();
  deviceKey.catch(() => (deviceKey = undefined));
  return deviceKey;
}

/** The broker's signing keys, read from the JWKS while online and pinned for the offline check. */
function pinServerKeys(gateway: string): Promise<Map<string, CryptoKey>> {
  pinned ??= (async () => {
    const jwks = (await (await call(`${gateway}/.well-known/jwks.json`)).json()) as { keys: { use?: string; kid: string; kty: string; crv: string; x: string; y: string }[] };
    const keys = new Map<string, CryptoKey>();
    for (const k of jwks.keys.filter((k) => k.use === 'sig' && k.kty === 'EC' && k.crv === 'P-256')) {
      keys.set(k.kid, await crypto.subtle.importKey('jwk', { kty: 'EC', crv: 'P-256', x: k.x, y: k.y }, ECDSA, false, ['verify']));
    }
    return keys;
  })();
  pinned.catch(() => (pinned = undefined));
  return pinned;
}

/** The TBS object's claims when a pinned key signed it (typ checked); else undefined. */
async function verifyTbs(tbs: string, keys: Map<string, CryptoKey>): Promise<TbsClaims | undefined> {
  const parts = tbs.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(new TextDecoder().decode(fromB64u(parts[0]!))) as { alg?: string; typ?: string; kid?: string };
    const key = header.kid ? keys.get(header.kid) : undefined;
    if (header.alg !== 'ES256' || header.typ !== TBS_TYP || !key) return undefined;
    const ok = await crypto.subtle.verify(SIGN, key, fromB64u(parts[2]!), enc.encode(`${parts[0]}.${parts[1]}`));
    return ok ? (JSON.parse(new TextDecoder().decode(fromB64u(parts[1]!))) as TbsClaims) : undefined;
  } catch {
    return undefined;
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Sends one message over the near link and reads the answer. */
async function toRelay(bridge: RelayBridge, message: Record<string, unknown>): Promise<Record<string, unknown>> {
  const answer = JSON.parse(await bridge(JSON.stringify(message))) as unknown;
  if (!answer || typeof answer !== 'object') throw new Error('bad_response');
  return answer as Record<string, unknown>;
}

/** Appends the "Confirm payment" section under the product. */
export function offerPaymentConfirmation(root: HTMLElement, offer: PaymentOffer): void {
  const section = el('section', 'countersign');
  section.id = 'countersign';
  section.setAttribute('aria-label', 'Confirm payment');
  const status = el('p', 'countersign-status');
  status.setAttribute('role', 'status');
  const button = el('button', 'countersign-confirm', 'Confirm payment');
  button.type = 'button';
  button.id = 'countersign-confirm';
  section.append(el('h2', 'section-title', 'Pay with your device'), button, status);
  root.append(section);

  const setState = (state: string, text: string) => {
    section.dataset.state = state;
    status.textContent = text;
  };

  button.addEventListener('click', () => {
    button.disabled = true;
    delete section.dataset.code;
    void confirm().catch((e: Error) => {
      section.dataset.code = e.message;
      setState('failed', `Not confirmed: ${paymentMessage(e.message).title}.`);
    }).finally(() => (button.disabled = false));
  });

  async function confirm(): Promise<void> {
    const bridge = window.countersignRelay;
    if (!bridge) return setState('failed', 'No authorization device is connected.');
    setState('preparing', 'Preparing your device…');
    // Online steps first: the device key and the pinned server keys.
    const [key, keys] = await Promise.all([ensureDeviceKey(offer), pinServerKeys(offer.gateway)]);
    const params = { amount: offer.amount, currency: offer.currency, payee: offer.payee };
    const serialBytes = crypto.getRandomValues(new Uint8Array(18));
    const sub = JSON.parse(new TextDecoder().decode(fromB64u(offer.vt.split('.')[1] ?? ''))) as { sub: string; app: string };
    const application: Application = { serial: b64u(serialBytes), app: sub.app, sub: sub.sub, kid: key.kid, operation: 'payment.confirm', params, level: 1 };
    // From here on the page speaks to the relay only.
    const answer = await toRelay(bridge, { type: 'application', application });
    if (answer.type !== 'tbs' || typeof answer.tbs !== 'string') return setState('failed', `Not confirmed (${String(answer.code ?? 'refused')}).`);
    const tbs = answer.tbs;
    const claims = await verifyTbs(tbs, keys);
    const same = !!claims && claims.serial === application.serial && claims.kid === key.kid && claims.op === application.operation
      && claims.amount === params.amount && claims.currency === params.currency && claims.payee === params.payee
      && claims.pd === (await sha256(canonicalParams(params))) && claims.exp > Date.now() / 1000;
    if (!claims || !same) {
      await toRelay(bridge, { type: 'refused', auth_req_id: answer.auth_req_id, reason: 'not what was applied for' }).catch(() => undefined);
      return setState('failed', 'Not confirmed: the request to sign was not genuine.');
    }
    // What is about to be signed, shown from the verified object itself.
    const shown = el('div', 'countersign-shown');
    const amount = el('p', 'countersign-amount', `${claims.amount} ${claims.currency}`);
    amount.id = 'countersign-amount';
    const payee = el('p', 'countersign-payee', `to ${claims.payee}`);
    payee.id = 'countersign-payee';
    const sign = el('button', 'countersign-sign', 'Sign');
    sign.type = 'button';
    sign.id = 'countersign-sign';
    shown.append(amount, payee, sign);
    section.append(shown);
    setState('review', 'Check the amount and the payee, then sign.');
    await new Promise<void>((resolve) => sign.addEventListener('click', () => resolve(), { once: true }));
    shown.remove();
    setState('signing', 'Signing…');
    // The payload is the TBS string itself: exactly the bytes the server signed.
    const input = `${b64u(enc.encode(JSON.stringify({ alg: 'ES256', typ: COUNTERSIGNATURE_TYP, kid: key.kid })))}.${b64u(enc.encode(tbs))}`;
    const signature = new Uint8Array(await crypto.subtle.sign(SIGN, key.privateKey, enc.encode(input)));
    const result = await toRelay(bridge, { type: 'countersignature', auth_req_id: answer.auth_req_id, countersignature: `${input}.${b64u(signature)}` });
    if (result.status !== 'approved' || typeof result.grant !== 'string') return setState('failed', `Not confirmed (${String(result.code ?? result.status)}).`);
    // Online again: the product backend acts on the grant, which the broker redeems once.
    const paymentUrl = `${offer.gateway}/v1/products/${encodeURIComponent(offer.productId)}/payments`;
    const res = await call(paymentUrl, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(await offer.authorize('POST', paymentUrl)) },
      body: JSON.stringify({ ...params, grant: result.grant }),
    });
    const body = (await res.json().catch(() => ({}))) as { status?: string; code?: string };
    if (res.status === 200 && body.status === 'confirmed') setState('confirmed', `Payment confirmed: ${params.amount} ${params.currency} to ${params.payee}.`);
    else {
      section.dataset.code = body.code ?? String(res.status);
      setState('failed', `Not confirmed: ${paymentMessage(body.code ?? '').title}.`);
    }
  }
}

/** What the chunk (`/h5/assets/countersign.js`) registers on `window`. */
export interface CountersignChunk {
  offerPaymentConfirmation: typeof offerPaymentConfirmation;
}

if (typeof window !== 'undefined') (window as unknown as { __h5Countersign?: CountersignChunk }).__h5Countersign = { offerPaymentConfirmation };
