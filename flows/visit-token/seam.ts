/**
 * The visit-token flow's seam between gateway and auth: the envelope exchange as one typed
 * interface, with its route defined once. Auth implements it (service.ts
 * createVisitTokenService) and serves it on that route (mountVisitTokenService); a gateway in
 * auth's process is handed auth's implementation itself, one in another process this HTTP client.
 */
import { unexpectedAnswer, type InternalClient, type InternalRoute } from '../../platform/http/upstream.ts';

/** What auth answers for an exchange: the reply, sealed under the page's R. */
export interface ExchangedVisitToken {
  envelope: string;
  /**
   * The VT in the clear, for the gateway only, only when it asked (`withVisitToken`) and only when
   * this exchange spent the AT (never on a retry with the same R, whose sender may hold only a
   * copy of the envelope): what it needs to fetch the product document into the same answer
   * (protocol section 2, `include`). Never sent to the page outside the sealed `envelope`.
   */
  visitToken?: IssuedVisitToken;
}

/** A VT just issued (or issued again), with the claims the gateway passes to the product backend. */
export interface IssuedVisitToken {
  vt: string;
  jti: string;
  app: string;
  sub: string;
  productId: string;
}

/** What the exchange may ask of the transport that carries it. */
export interface ExchangeOptions {
  /**
   * True once the client that sent the envelope is gone (its connection closed): checked just
   * before the AT is spent, so that an exchange nobody can receive does not spend it.
   */
  clientGone?: () => boolean;
  /** The gateway asks for the VT in the clear beside the sealed reply (ExchangedVisitToken.visitToken). */
  withVisitToken?: boolean;
}

/** Auth's operations of this flow. Each throws Problem. */
export interface VisitTokenService {
  /**
   * Opens an envelope, consumes its AT once and seals a VT under R. The envelope as the page
   * sent it: auth alone can tell whether it opens.
   */
  exchange(envelope: unknown, requestId?: string, opts?: ExchangeOptions): Promise<ExchangedVisitToken>;
}

/** The routes auth serves this flow's operations on (internal: the gateway only). */
export const VISIT_TOKEN_ROUTES = {
  exchange: { method: 'POST', path: '/internal/visit-tokens', status: 200 },
} as const satisfies Record<keyof VisitTokenService, InternalRoute>;

/** VisitTokenService over HTTP: auth in another process. */
export function visitTokenClient(auth: InternalClient): VisitTokenService {
  return {
    async exchange(envelope, requestId, opts) {
      const data = await auth.call(VISIT_TOKEN_ROUTES.exchange, { envelope, ...(opts?.withVisitToken && { withVisitToken: true }) }, requestId);
      const reply = data as Partial<ExchangedVisitToken> | undefined;
      if (typeof reply?.envelope !== 'string') throw unexpectedAnswer(auth.name, 'not an exchanged visit token');
      const issued = reply.visitToken;
      const ok = !!issued && [issued.vt, issued.jti, issued.app, issued.sub, issued.productId].every((v) => typeof v === 'string');
      return { envelope: reply.envelope, ...(opts?.withVisitToken && ok && { visitToken: issued }) };
    },
  };
}
