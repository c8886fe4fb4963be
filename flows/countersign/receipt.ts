/**
 * The receipt: a grant names, by SHA-256, the server-signed TBS object, the device's
 * countersignature and the relay's decision. With the three objects and the two public keys
 * (Receipt) anyone can later prove who approved what: the grant under the broker's published key,
 * the TBS under the broker's key, the countersignature over exactly the TBS bytes under the device
 * key whose thumbprint the grant names, and the decision under the relay key it names.
 */
import type { KeyObject } from 'node:crypto';
import { COUNTERSIGNATURE_TYP, DECISION_TYP, GRANT_TYP, TBS_TYP, type GrantClaims, type Receipt, type TbsClaims } from '../../protocol/countersign.ts';
import { jsonPayload, JwsError, keyOfJwk, parseJws, sha256b64u, verifyParsed } from './jws.ts';
import { jwkThumbprint } from './registry.ts';

/** Verifies a grant and its receipt; the grant's claims, or JwsError. Says nothing of expiry or use. */
export async function verifyReceipt(grant: string, receipt: Receipt, serverKeyFor: (kid: string) => KeyObject | undefined | Promise<KeyObject | undefined>): Promise<GrantClaims> {
  const g = parseJws(grant, GRANT_TYP);
  verifyParsed(g, await serverKeyFor(g.header.kid));
  const claims = jsonPayload(g) as unknown as GrantClaims;
  if (sha256b64u(receipt.tbs) !== claims.receipt?.tbs || sha256b64u(receipt.countersignature) !== claims.receipt.cs || sha256b64u(receipt.decision) !== claims.receipt.rs) {
    throw new JwsError('the receipt is not the one the grant names');
  }
  const t = parseJws(receipt.tbs, TBS_TYP);
  verifyParsed(t, await serverKeyFor(t.header.kid));
  const tbs = jsonPayload(t) as unknown as TbsClaims;
  if (tbs.aid !== claims.aid || tbs.pd !== claims.pd || tbs.kid !== claims.kid || tbs.relay !== claims.relay) throw new JwsError('the TBS object is for another approval');
  const cs = parseJws(receipt.countersignature, COUNTERSIGNATURE_TYP);
  if (cs.payload.toString('latin1') !== receipt.tbs) throw new JwsError('the countersignature is over other bytes');
  if (jwkThumbprint(receipt.deviceJwk) !== claims.kid || cs.header.kid !== claims.kid) throw new JwsError('another device key');
  verifyParsed(cs, keyOfJwk(receipt.deviceJwk));
  const d = parseJws(receipt.decision, DECISION_TYP);
  if (jwkThumbprint(receipt.relayJwk) !== claims.relay || d.header.kid !== claims.relay) throw new JwsError('another relay key');
  verifyParsed(d, keyOfJwk(receipt.relayJwk));
  const decision = jsonPayload(d);
  if (decision.decision !== 'approve' || decision.aid !== claims.aid || decision.tbs !== claims.receipt.tbs || decision.cs !== claims.receipt.cs) throw new JwsError('the decision is not this approval');
  return claims;
}
