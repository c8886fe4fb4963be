/**
 * What can go wrong on the page, as stable codes (the gateway's problem+json `code`, or one of the
 * page's own below), and the friendly words shown for each. Never a stack, never server detail.
 */
import type { ProblemCode } from '../../protocol/problems.ts';

/**
 * The gateway's problem codes the page has its own words for: every code docs/errors.md says the
 * H5 page meets on its three calls (JWKS, exchange, product), and the outages it can ride out.
 * Checked against the problem table by tsc (`satisfies`) and against docs/errors.md by
 * test/protocol/problems.test.ts. Any other code means a request the page should never make, or
 * an unforeseen failure: it gets the fallback words.
 */
export const GATEWAY_CODES = [
  'at_invalid',
  'envelope_invalid',
  'vt_invalid',
  'pow_required',
  'dpop_invalid',
  'forbidden_product',
  'unknown_product',
  'rate_limited',
  'store_unavailable',
  'upstream_unavailable',
  'starting',
] as const satisfies readonly ProblemCode[];

/** The page's own codes, for failures that have no gateway answer behind them. */
export const PAGE_CODES = {
  /** No `#at=` in the URL: the page was not opened from the app (or was reloaded). */
  atMissing: 'at_missing',
  /** No `#at=` on a page that cannot keep a session (no WebCrypto keys: the forge path), reloaded. */
  notKept: 'session_not_kept',
  /** fetch rejected, timed out, or the forge script failed to load. */
  network: 'network_error',
  /** The gateway answered 200 to the exchange but the reply could not be opened or read. */
  replyInvalid: 'reply_invalid',
  /** A 2xx body that is not what the contract says (JWKS without an enc key, malformed product). */
  badResponse: 'bad_response',
  /** The page itself is misconfigured (data attributes missing). */
  config: 'config_invalid',
  /** Anything not foreseen. */
  unexpected: 'unexpected',
} as const;

/** What the gateway's answer said besides its code: its request id, and when to try again. */
export interface PageErrorDetails {
  /** The gateway's `X-Request-Id`, shown small for support. */
  requestId?: string;
  /** Seconds from `Retry-After` (1-3600), for `rate_limited` and the 503s. */
  retryAfter?: number;
}

/** A code the page has words for: one of the gateway's it meets, or one of its own. */
export type PageMessageCode = (typeof GATEWAY_CODES)[number] | (typeof PAGE_CODES)[keyof typeof PAGE_CODES];

/** An error the page shows: a stable code, and the HTTP status when the gateway gave one. */
export class PageError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly retryAfter: number | undefined;
  constructor(code: string, status?: number, details: PageErrorDetails = {}) {
    super(code);
    this.name = 'PageError';
    this.code = code;
    this.status = status;
    this.requestId = details.requestId;
    this.retryAfter = details.retryAfter;
  }
}

/** Turns anything thrown into a PageError. */
export function toPageError(e: unknown): PageError {
  if (e instanceof PageError) return e;
  if (e && typeof e === 'object' && (e as { code?: unknown }).code === 'envelope_invalid') return new PageError(PAGE_CODES.replyInvalid);
  return new PageError(PAGE_CODES.unexpected);
}

/**
 * Codes after which trying again cannot help: the AT is spent or refused, the VT is gone, or the
 * product is closed to this app. The user has to go back to the app.
 */
export const FINAL_CODES: ReadonlySet<string> = new Set<PageMessageCode>([
  PAGE_CODES.atMissing,
  PAGE_CODES.notKept,
  'at_invalid',
  'vt_invalid',
  'dpop_invalid',
  'forbidden_product',
  'unknown_product',
  PAGE_CODES.replyInvalid,
  PAGE_CODES.config,
]);

export interface FriendlyMessage {
  title: string;
  text: string;
}

/** A network failure while the device says it is online: the service is down, not the user. */
const FALLBACK: FriendlyMessage = {
  title: "We can't reach the service right now",
  text: 'Our service is not answering. Your connection looks fine, so please try again in a moment.',
};

/** A network failure while `navigator.onLine` is false. */
const OFFLINE: FriendlyMessage = {
  title: 'You are offline',
  text: 'This device has no internet connection. Check your Wi-Fi or mobile data, then try again.',
};

/*
 * Words for every code the page meets (tsc refuses a missing one). They never blame the user: a
 * reload, an expiry or a refusal is said as what happened, and every final message says the way
 * out (the page's "Back to the app" action).
 */
export const MESSAGES: Readonly<Record<PageMessageCode, FriendlyMessage>> = {
  at_missing: {
    title: 'Open the product again from the app',
    text: 'This page was reloaded or reopened, and for your security it cannot pick up your session again. Go back to the app and open the product once more.',
  },
  session_not_kept: {
    title: 'Open the product again from the app',
    text: 'This page was reloaded or reopened. On this device it cannot keep your session safely, so it does not keep it at all. Go back to the app and open the product once more.',
  },
  at_invalid: {
    title: "This link can't be used",
    text: 'The link that opened this page has expired or was already used, or it is not valid. Go back to the app and open the product again.',
  },
  envelope_invalid: {
    title: 'We could not start your session',
    text: 'Something went wrong while setting up a secure session. Please try again.',
  },
  vt_invalid: {
    title: 'Your session has ended',
    text: 'For your security, sessions end after a while. Go back to the app and open the product again.',
  },
  pow_required: {
    title: 'We could not check your browser',
    text: 'A quick automatic check did not finish. Please try again.',
  },
  dpop_invalid: {
    title: 'Your session could not be confirmed',
    text: 'For your security, this session works only on the device and in the page it was opened in. Go back to the app and open the product again.',
  },
  forbidden_product: {
    title: "This product can't be opened here",
    text: 'The link that opened this page is for another product, or this product is not offered in the app you came from. Go back to the app to see the products it offers.',
  },
  unknown_product: {
    title: 'This product is not available',
    text: 'We could not find this product. It may have been withdrawn. Go back to the app to see what is on offer.',
  },
  store_unavailable: {
    title: 'We are having a short interruption',
    text: 'Our service is briefly unavailable. Please try again in a moment.',
  },
  upstream_unavailable: {
    title: 'We are having a short interruption',
    text: 'Our service is briefly unavailable. Please try again in a moment.',
  },
  starting: {
    title: 'We are having a short interruption',
    text: 'Our service is briefly unavailable. Please try again in a moment.',
  },
  rate_limited: {
    title: 'Too many requests',
    text: 'We are getting a lot of requests right now. Please wait a moment, then try again.',
  },
  reply_invalid: {
    title: 'We could not start your session',
    text: 'Something went wrong while setting up a secure session. Go back to the app and open the product again.',
  },
  config_invalid: {
    title: 'This page is not set up correctly',
    text: 'Please go back to the app and try again later.',
  },
  network_error: FALLBACK,
  bad_response: FALLBACK,
  unexpected: FALLBACK,
};

/**
 * The words for a code; anything unknown reads as "can't reach the service". `online` is
 * `navigator.onLine`: a network failure while offline says so instead.
 */
export function friendlyMessage(code: string, online = true): FriendlyMessage {
  if (code === PAGE_CODES.network && !online) return OFFLINE;
  return Object.prototype.hasOwnProperty.call(MESSAGES, code) ? MESSAGES[code as PageMessageCode] : FALLBACK;
}
