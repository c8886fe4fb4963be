/**
 * Auth's operations without HTTP around them: one typed seam per flow (flows/<flow>/seam.ts),
 * implemented by the flow's internal half. The HTTP app (auth/app.ts) serves them on their
 * internal routes; a gateway that runs in this same process is handed these objects and calls
 * them directly (system/start.ts), since a loopback HTTP hop between two parts of one process
 * protects nothing and costs more than the rest of an AT issuance (decision 33).
 */
import { createAccessTokenService } from '../flows/access-token/service.ts';
import { createVisitTokenService } from '../flows/visit-token/service.ts';
import { createKeysService } from '../flows/keys/service.ts';
import { createCountersignService } from '../flows/countersign/service.ts';
import type { AuthDeps, AuthServices } from '../flows/deps.ts';

export function createAuthService(deps: AuthDeps): AuthServices {
  return {
    accessTokens: createAccessTokenService(deps),
    visitTokens: createVisitTokenService(deps),
    keys: createKeysService(deps),
    countersign: createCountersignService(deps),
  };
}
