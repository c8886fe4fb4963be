/**
 * The countersign flow's signatures against an independent implementation (`jose`) both ways, and
 * Project Wycheproof's ECDSA P-256 SHA-256 vectors in the r||s form JWS uses through the one
 * verification every countersign signature goes through (es256Verify, called by verifyParsed).
 */
import { createPublicKey } from 'node:crypto';
import { expect } from 'chai';
import { CompactSign, compactVerify, importJWK, exportJWK, generateKeyPair } from 'jose';
import { es256Sign, es256Verify, parseJws, verifyParsed } from '../../../flows/countersign/jws.ts';
import { generateDeviceKey } from '../../../flows/countersign/device.ts';
import { jwkThumbprint } from '../../../flows/countersign/registry.ts';
import { COUNTERSIGNATURE_TYP, TBS_TYP } from '../../../protocol/countersign.ts';
import { MemoryStore } from '../../../platform/store/index.ts';
import { useTestSystem } from '../../support/system.ts';
import { hex, loadVectors } from '../../support/wycheproof.ts';
import { authorize, newUser, PAYMENT } from './support.ts';

interface EcdsaTest { tcId: number; comment: string; msg: string; sig: string; result: 'valid' | 'invalid' | 'acceptable'; flags: string[] }
interface EcdsaGroup { publicKeyJwk: JsonWebKey; publicKeyDer: string; tests: EcdsaTest[] }

describe('countersign: Wycheproof ECDSA P-256 (P1363) through the verify path', function () {
  const file = loadVectors<EcdsaGroup>('ecdsa_secp256r1_sha256_p1363_test.json');
  it(`answers every one of the ${file.numberOfTests} vectors as Wycheproof says`, function () {
    let valid = 0;
    let invalid = 0;
    for (const group of file.testGroups) {
      const key = createPublicKey({ key: hex(group.publicKeyDer), format: 'der', type: 'spki' });
      for (const t of group.tests) {
        const ok = es256Verify(key, hex(t.msg), hex(t.sig));
        if (t.result === 'valid') expect(ok, `tcId ${t.tcId} ${t.comment}`).to.equal(true);
        if (t.result === 'invalid') expect(ok, `tcId ${t.tcId} ${t.comment}`).to.equal(false);
        if (ok) valid++;
        else invalid++;
      }
    }
    expect(valid).to.be.greaterThan(100);
    expect(invalid).to.be.greaterThan(50);
  });
});

describe('countersign: signatures interoperate with jose', function () {
  this.timeout(30_000);
  const s = useTestSystem(() => new MemoryStore());

  it('the server\'s TBS object and grant, and our countersignature and decision, verify with jose', async function () {
    const user = await newUser(s.system.urls.gateway, 'jose');
    const { relayed } = await authorize(user.device(), user.relay(), user.device().application('payment.confirm', PAYMENT));
    const receipt = relayed.receipt as { tbs: string; countersignature: string; decision: string; deviceJwk: JsonWebKey; relayJwk: JsonWebKey };
    const serverKey = async (token: string) => user.pinned.get(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid)!;
    for (const token of [receipt.tbs, relayed.grant as string]) {
      const { protectedHeader } = await compactVerify(token, await serverKey(token), { algorithms: ['ES256'] });
      expect(protectedHeader.alg).to.equal('ES256');
    }
    const cs = await compactVerify(receipt.countersignature, await importJWK({ ...receipt.deviceJwk, alg: 'ES256' }, 'ES256'), { algorithms: ['ES256'] });
    expect(Buffer.from(cs.payload).toString('latin1')).to.equal(receipt.tbs);
    await compactVerify(receipt.decision, await importJWK({ ...receipt.relayJwk, alg: 'ES256' }, 'ES256'), { algorithms: ['ES256'] });
  });

  it('a countersignature made by jose over the TBS bytes is accepted by the broker and approved', async function () {
    const gw = s.system.urls.gateway;
    const user = await newUser(gw, 'jose');
    const device = user.device();
    const application = device.application('payment.confirm', PAYMENT);
    const relay = user.relay();
    const applied = await relay.call('apply', { application });
    const tbs = applied.tbs as string;
    const aid = applied.auth_req_id as string;
    const cs = await new CompactSign(Buffer.from(tbs, 'latin1')).setProtectedHeader({ alg: 'ES256', typ: COUNTERSIGNATURE_TYP, kid: user.deviceKey.kid }).sign(user.deviceKey.privateKey);
    const verified = await relay.call('countersign', { auth_req_id: aid, countersignature: cs });
    expect(verified.status).to.equal('verified');
    const decided = await relay.call('decide', { auth_req_id: aid, decision: relay.decision(aid, tbs, cs, 'approve') });
    expect(decided.status).to.equal('approved');
  });

  it('our verify path accepts jose\'s ES256 signatures and refuses them under another typ', async function () {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const token = await new CompactSign(new TextEncoder().encode('a.b.c')).setProtectedHeader({ alg: 'ES256', typ: TBS_TYP, kid: jwkThumbprint(jwk as { x: string; y: string }) }).sign(privateKey);
    const parsed = parseJws(token, TBS_TYP);
    verifyParsed(parsed, createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x!, y: jwk.y! }, format: 'jwk' }));
    expect(() => parseJws(token, COUNTERSIGNATURE_TYP)).to.throw();
    // And jose verifies ours.
    const mine = generateDeviceKey();
    const signed = es256Sign({ typ: TBS_TYP, kid: mine.kid }, { hello: 'world' }, mine.privateKey);
    const { payload } = await compactVerify(signed, await importJWK({ ...mine.jwk, alg: 'ES256' }, 'ES256'));
    expect(JSON.parse(Buffer.from(payload).toString())).to.deep.equal({ hello: 'world' });
  });
});
