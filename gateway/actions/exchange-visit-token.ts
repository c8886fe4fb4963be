import type { Context } from 'koa';
import { noStore, readJsonBody } from '../../common/http.ts';
import { MAX_ENVELOPE_LENGTH } from '../../common/jwe.ts';
import { Problem } from '../../common/problem.ts';
import type { GatewayDeps } from '../context.ts';
import { relay } from '../upstream.ts';

/** `POST /v1/visit-tokens`: the H5 page's envelope, passed to auth, which alone can open it. */
export function exchangeVisitToken(deps: GatewayDeps) {
  return [
    async function forwardEnvelope(ctx: Context): Promise<void> {
      // The same limits as auth's, so an oversized envelope is refused here, before the hop.
      const { body } = await readJsonBody(ctx, { limit: MAX_ENVELOPE_LENGTH + 256 });
      if (typeof body.envelope !== 'string' || body.envelope.length > MAX_ENVELOPE_LENGTH) {
        throw new Problem(400, 'envelope_invalid', 'The envelope cannot be opened.');
      }
      const answer = await deps.auth.request(ctx, 'POST', '/internal/visit-tokens', { body: { envelope: body.envelope } });
      noStore(ctx);
      relay(ctx, answer, [200]);
    },
  ];
}
