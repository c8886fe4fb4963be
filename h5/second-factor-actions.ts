/**
 * The sample product backend's one action that needs the second factor (flows/binding): the
 * gateway checks the user's code and passes a signed assertion, which the backend verifies
 * offline (sdk/second-factor.ts) before it acts. Without a valid assertion: 403 forbidden.
 */
import { requireInternalCaller } from '../platform/http/body.ts';
import { Problem } from '../platform/http/problem.ts';
import type { AppRouter } from '../platform/http/state.ts';
import { SECOND_FACTOR_HEADER } from '../protocol/binding.ts';
import type { SecondFactorVerifier } from '../sdk/second-factor.ts';
import { secondFactorActions } from './products.ts';

export function mountSecondFactorActions(router: AppRouter, deps: { internalToken: string; secondFactor?: SecondFactorVerifier }): void {
  router.post('/products/:productId/actions/:action', requireInternalCaller(deps.internalToken), async function secondFactorAction(ctx) {
    const productId = ctx.params.productId ?? '';
    const action = secondFactorActions(productId).find((a) => a.id === ctx.params.action);
    if (!action || !deps.secondFactor) throw new Problem('not_found');
    const assertion = ctx.get(SECOND_FACTOR_HEADER);
    const expected = { app: ctx.get('x-broker-app'), sub: ctx.get('x-broker-user'), product: productId, action: action.id };
    if (!assertion || !(await deps.secondFactor.verify(assertion, expected))) {
      throw new Problem('forbidden', 'This action needs the second factor.');
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { action: action.id, done: true, message: `${action.label}: done.` };
  });
}
