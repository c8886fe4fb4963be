/**
 * The one problem table of the v1 contract: every stable error `code` once, with its HTTP status,
 * its fixed `title`, and the `WWW-Authenticate` scheme a 401 names. Throw sites name the code only
 * (`new Problem('at_invalid')`); docs/errors.md and the H5 page's messages are checked against
 * this table by test/protocol/problems.test.ts. Browser-safe: it imports nothing.
 */

export interface ProblemType {
  /** The status of an answer with this code (a few codes allow another, named in `otherStatuses`). */
  readonly status: number;
  readonly otherStatuses?: readonly number[];
  readonly title: string;
  /** The `WWW-Authenticate` value sent with a 401 of this code. */
  readonly challenge?: string;
}

const SIGNATURE_CHALLENGE = 'Signature realm="h5-broker"';
const BEARER_CHALLENGE = 'Bearer realm="h5-broker", error="invalid_token"';
/** The proof-of-work gate's scheme; an answer adds the challenge's fields as auth-params (docs/protocol.md section 7). */
const POW_CHALLENGE = 'BrokerPoW realm="h5-broker"';
/** RFC 9449 section 7.1: the DPoP scheme, with the algs a proof may use. */
const DPOP_CHALLENGE = 'DPoP realm="h5-broker", error="invalid_dpop_proof", algs="ES256"';

export const PROBLEMS = {
  invalid_request: { status: 400, title: 'The request is malformed' },
  invalid_signature: { status: 401, title: 'The request signature is not valid', challenge: SIGNATURE_CHALLENGE },
  replayed_request: { status: 401, title: 'The request was already received', challenge: SIGNATURE_CHALLENGE },
  unknown_app: { status: 401, title: 'The app is not registered', challenge: SIGNATURE_CHALLENGE },
  invalid_client: { status: 401, title: 'The client credentials are not valid', challenge: 'Basic realm="h5-broker", charset="UTF-8"' },
  at_invalid: { status: 401, title: 'The access token is unknown, expired or already used', challenge: BEARER_CHALLENGE },
  envelope_invalid: { status: 400, title: 'The envelope cannot be opened' },
  vt_invalid: { status: 401, title: 'The visit token is not valid', challenge: BEARER_CHALLENGE },
  pow_required: { status: 401, title: 'A proof of work or a valid pass is required', challenge: POW_CHALLENGE },
  pass_invalid: { status: 401, title: 'The pass is not valid', challenge: POW_CHALLENGE },
  dpop_invalid: { status: 401, title: 'The DPoP proof is missing or not valid', challenge: DPOP_CHALLENGE },
  forbidden_product: { status: 403, title: 'The product is not allowed for this token or app' },
  unknown_product: { status: 404, title: 'The product does not exist' },
  forbidden: { status: 403, title: 'The caller is not allowed here' },
  untrusted_network: { status: 403, title: 'The request did not come over a trusted network' },
  not_found: { status: 404, title: 'Nothing is here' },
  method_not_allowed: { status: 405, title: 'The method is not allowed here' },
  unsupported_media_type: { status: 415, title: 'The content type is not supported' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  uri_too_long: { status: 414, title: 'The request URL is too long' },
  headers_too_large: { status: 431, title: 'The request headers are too large' },
  request_timeout: { status: 408, title: 'The request was not received in time' },
  rate_limited: { status: 429, title: 'Too many requests' },
  relay_invalid: { status: 401, title: 'The relay request is not valid', challenge: 'Countersign realm="h5-broker"' },
  device_key_invalid: { status: 403, title: 'The device key is unknown, revoked or not this user\'s' },
  tbs_invalid: { status: 400, title: 'The signed object is not one this server signed' },
  countersign_invalid: { status: 400, title: 'The countersignature does not verify' },
  countersign_replayed: { status: 409, title: 'The application, countersignature or grant was already used' },
  countersign_expired: { status: 400, title: 'The application is unknown or expired' },
  level_not_met: { status: 403, title: 'The operation needs a higher authorization level' },
  authorization_failed: { status: 403, title: 'The authorization was refused' },
  grant_invalid: { status: 403, title: 'The grant is not valid' },
  params_mismatch: { status: 409, title: 'The operation or its parameters differ from what was approved' },
  store_unavailable: { status: 503, title: 'The token store is unavailable' },
  upstream_unavailable: { status: 503, otherStatuses: [502], title: 'A service behind the gateway is unavailable' },
  starting: { status: 503, title: 'The service is starting' },
  internal_error: { status: 500, title: 'Something went wrong on our side' },
  binding_exists: { status: 409, title: 'The account already has a bound token key' },
  binding_not_found: { status: 404, title: 'There is no such binding for this account' },
  binding_conflict: { status: 409, title: 'The binding is not in a state that allows this step' },
  binding_link_invalid: { status: 400, title: 'The binding link is unknown, expired or already used' },
  binding_proof_invalid: { status: 400, title: 'The keyed hash does not match' },
  binding_clock_skew: { status: 400, title: "The phone's timestamp is outside the allowed window" },
  binding_ticket_invalid: { status: 403, title: 'The stream ticket is unknown, used or for another binding' },
  totp_invalid: { status: 400, title: 'The code is not valid' },
  // Polling answers in the vocabulary of RFC 8628 §3.5 and CIBA §11 (both answer them as HTTP 400),
  // shared by the binding flow's and the countersign flow's polls.
  authorization_pending: { status: 400, title: 'The authorization is still pending' },
  slow_down: { status: 400, title: 'Poll more slowly' },
  expired_token: { status: 400, title: 'The binding or application has expired' },
  access_denied: { status: 400, title: 'The authorization was refused' },
} as const satisfies Record<string, ProblemType>;

/** Stable error codes of the v1 contract (docs/errors.md says what each means). */
export type ProblemCode = keyof typeof PROBLEMS;

export const PROBLEM_CODES = Object.keys(PROBLEMS) as ProblemCode[];

/** Base URI of the documented problem types; `type` is this plus the code. */
export const PROBLEM_TYPE_BASE = 'https://h5-broker.dev/problems/';

export function isProblemCode(code: unknown): code is ProblemCode {
  return typeof code === 'string' && Object.hasOwn(PROBLEMS, code);
}

/** The RFC 9457 body every error answer carries. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
}
