/**
 * For a product backend with an action that needs the second factor (flows/binding): verifies the
 * gateway's assertion offline against its binding key (`GET /v1/binding-keys`), with `jose`:
 * `typ: second-factor+jwt`, ES256, `iss`, `exp`, and that it names this user, app, product and action.
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { ASSERTION_TYP } from '../protocol/binding.ts';

export interface SecondFactorVerifier {
  /** True when `assertion` is a live assertion for exactly this user, app, product and action. */
  verify(assertion: string, expected: { app: string; sub: string; product: string; action: string }): Promise<boolean>;
}

export function createSecondFactorVerifier(opts: { keysUrl: string | URL; issuer: string }): SecondFactorVerifier {
  const keys = createRemoteJWKSet(new URL(opts.keysUrl));
  return {
    async verify(assertion, expected) {
      try {
        const { payload } = await jwtVerify(assertion, keys, { typ: ASSERTION_TYP, algorithms: ['ES256'], issuer: opts.issuer, audience: expected.product, requiredClaims: ['exp', 'iat'] });
        return payload.sub === expected.sub && payload.app === expected.app && payload.act === expected.action;
      } catch {
        return false;
      }
    },
  };
}
