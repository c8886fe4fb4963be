/**
 * Countersigned authorization of sensitive operations (docs/protocol.md, "Countersigning"):
 * the wire contract shared by the broker, the relay, the device (client) and the product
 * backend. Browser-safe: it imports nothing.
 */

/** JOSE `typ` of the object the server signs for the device: no login or VT signature carries it. */
export const TBS_TYP = 'countersign-tbs+jwt';
/** JOSE `typ` of the device's countersignature over the exact bytes of a TBS object. */
export const COUNTERSIGNATURE_TYP = 'countersign+jwt';
/** JOSE `typ` of the relay's signed decision (approve or refuse). */
export const DECISION_TYP = 'countersign-decision+jwt';
/** JOSE `typ` of a signed request of the relay to the server. */
export const RELAY_REQUEST_TYP = 'countersign-relay+jwt';
/** JOSE `typ` of the server-signed, single-use grant. */
export const GRANT_TYP = 'countersign-grant+jwt';

/** Authorization levels and the `acr` each maps to in the grant. */
export const LEVEL_ACR = {
  1: 'urn:h5-broker:countersign:1',
  2: 'urn:h5-broker:countersign:2',
} as const;
export type CountersignLevel = keyof typeof LEVEL_ACR;

/** The operations that can be countersigned, and the parameters each must name. */
export const OPERATIONS = {
  'payment.confirm': ['amount', 'currency', 'payee'],
  'payout.change': ['payee'],
} as const;
export type CountersignOperation = keyof typeof OPERATIONS;

/** The gateway's public routes of the flow. */
export const COUNTERSIGN_PATHS = {
  registerKey: '/v1/countersign/keys',
  revokeKey: '/v1/countersign/keys/revoke',
  setPassword: '/v1/countersign/password',
  apply: '/v1/countersign/applications',
  countersign: '/v1/countersign/countersignatures',
  poll: '/v1/countersign/poll',
  decide: '/v1/countersign/decisions',
  redeem: '/v1/countersign/grants/redeem',
} as const;
export type CountersignOp = keyof typeof COUNTERSIGN_PATHS;

/** The client's application, made on the device and carried by the relay. */
export interface Application {
  /** The client's unique serial number of this application. */
  serial: string;
  app: string;
  sub: string;
  /** The device key (its RFC 7638 thumbprint) that will countersign. */
  kid: string;
  operation: CountersignOperation;
  params: Record<string, string>;
  level: CountersignLevel;
}

/** The claims of the server-signed to-be-signed object. */
export interface TbsClaims {
  iss: string;
  /** The application's id (the CIBA `auth_req_id`). */
  aid: string;
  app: string;
  sub: string;
  op: CountersignOperation;
  /** SHA-256 of the parameters' canonical JSON (keys sorted), base64url. */
  pd: string;
  amount?: string;
  currency?: string;
  payee?: string;
  serial: string;
  relay: string;
  kid: string;
  /** 128 random bits, base64url. */
  nonce: string;
  level: CountersignLevel;
  iat: number;
  exp: number;
}

/** The claims of a grant: what was approved, at which level, and the receipt's three signatures by digest. */
export interface GrantClaims {
  iss: string;
  jti: string;
  aid: string;
  app: string;
  sub: string;
  acr: (typeof LEVEL_ACR)[CountersignLevel];
  op: CountersignOperation;
  pd: string;
  amount?: string;
  currency?: string;
  payee?: string;
  serial: string;
  relay: string;
  kid: string;
  iat: number;
  exp: number;
  /** SHA-256 (base64url) of the TBS object, the device's countersignature and the relay's decision. */
  receipt: { tbs: string; cs: string; rs: string };
}

/** What the relay passes back to the device with a grant: the three signed objects and the two public keys. */
export interface Receipt {
  tbs: string;
  countersignature: string;
  decision: string;
  deviceJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
  relayJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string };
}

/** Canonical JSON of flat string parameters: keys sorted, no spaces (the input of `pd`). */
export function canonicalParams(params: Record<string, string>): string {
  return `{${Object.keys(params).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(params[k])}`).join(',')}}`;
}
