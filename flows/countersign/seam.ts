/**
 * The countersign flow's seam between gateway and auth. Every operation takes the same shape (the
 * caller's `Authorization` header, for the VT-authenticated ones, and the JSON body) and answers a
 * JSON object: auth does every check (VT, relay signature, countersignature) itself, since only
 * auth holds the signing key and the encryption keys the flow needs.
 */
import { unexpectedAnswer, type InternalClient, type InternalRoute } from '../../platform/http/upstream.ts';
import { COUNTERSIGN_PATHS, type CountersignOp } from '../../protocol/countersign.ts';

export interface CountersignRequest {
  /** The `Authorization` header as sent (VT-authenticated operations). */
  authorization?: string;
  body: Record<string, unknown>;
}
export type CountersignAnswer = Record<string, unknown>;

/** Auth's operations of this flow. Each throws Problem. */
export type CountersignService = Record<CountersignOp, (request: CountersignRequest, requestId?: string) => Promise<CountersignAnswer>>;

const route = (op: CountersignOp, status = 200): InternalRoute => ({ method: 'POST', path: `/internal/countersign/${op}`, status });

/** The routes auth serves this flow's operations on (internal: the gateway only). */
export const COUNTERSIGN_ROUTES = {
  registerKey: route('registerKey', 201),
  revokeKey: route('revokeKey'),
  setPassword: route('setPassword', 201),
  apply: route('apply', 201),
  countersign: route('countersign'),
  poll: route('poll'),
  decide: route('decide'),
  redeem: route('redeem'),
} as const satisfies Record<CountersignOp, InternalRoute>;

export const COUNTERSIGN_OPS = Object.keys(COUNTERSIGN_PATHS) as CountersignOp[];

/** CountersignService over HTTP: auth in another process. */
export function countersignClient(auth: InternalClient): CountersignService {
  const entries = COUNTERSIGN_OPS.map((op) => [op, async (request: CountersignRequest, requestId?: string) => {
    const data = await auth.call(COUNTERSIGN_ROUTES[op], request, requestId);
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw unexpectedAnswer(auth.name, `countersign ${op}: not an object`);
    return data as CountersignAnswer;
  }]);
  return Object.fromEntries(entries) as CountersignService;
}
