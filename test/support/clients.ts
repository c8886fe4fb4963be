/** Test clients that speak the wire contract: a third-party backend and an H5 page, in Node. */
import { randomBytes, createPublicKey } from 'node:crypto';
import axios from 'axios';
import { decryptCompact, encryptCompact } from '../../platform/crypto/jwe.ts';
import type { EnvelopeAlg, PublicEncJwk, RsaPublicEncJwk } from '../../flows/keys/keys.ts';
import { signRequest } from '../../platform/http/signature.ts';
import { BrokerClient } from '../../sdk/broker-client.ts';
import { DEMO_APP } from './system.ts';

export const http = axios.create({ validateStatus: () => true, proxy: false, timeout: 10_000 });

export function demoClient(gatewayUrl: string, app: { appId: string; appSecret: string; encKey: string } = DEMO_APP): BrokerClient {
  // No retries: a test sees each answer as the broker gave it (test/sdk/ tests the SDK's retries).
  return new BrokerClient({ gatewayUrl, appId: app.appId, appSecret: app.appSecret, encKey: app.encKey, retries: 0 });
}

/** The JWKS key for `alg` (RSA-OAEP-256 by default), as a page or a third party finds it. */
export async function fetchEncJwk(gatewayUrl: string): Promise<RsaPublicEncJwk>;
export async function fetchEncJwk<A extends EnvelopeAlg>(gatewayUrl: string, alg: A): Promise<Extract<PublicEncJwk, { alg: A }>>;
export async function fetchEncJwk(gatewayUrl: string, alg: EnvelopeAlg = 'RSA-OAEP-256'): Promise<PublicEncJwk> {
  const res = await http.get(`${gatewayUrl}/.well-known/jwks.json`);
  const key = (res.data.keys as PublicEncJwk[]).find((k) => k.use === 'enc' && k.alg === alg);
  if (!key) throw new Error(`no ${alg} encryption key in the JWKS`);
  return key;
}

/**
 * Seals an AT the way the H5 page does (our JWE code), keeping R to open the reply: R wrapped
 * with the JWK's alg (RSA-OAEP-256, or ECDH-ES+A256KW with a fresh `epk`).
 */
export function sealEnvelope(jwk: PublicEncJwk, at: string, iat = Math.floor(Date.now() / 1000)): { envelope: string; r: Buffer } {
  const r = randomBytes(32);
  const envelope = encryptCompact({
    header: { alg: jwk.alg, enc: 'A256GCM', kid: jwk.kid },
    plaintext: JSON.stringify({ at, iat }),
    key: createPublicKey({ key: { ...jwk } as Record<string, string>, format: 'jwk' }),
    cek: r,
  });
  return { envelope, r };
}

export function openReply(envelope: string, r: Buffer): { vt: string; expiresIn: number; productId: string; userId: string } {
  const { plaintext } = decryptCompact(envelope, { algorithms: ['dir'], key: () => r });
  return JSON.parse(plaintext.toString('utf8'));
}

/** POST /v1/visit-tokens with an envelope; returns the raw answer. */
export function exchange(gatewayUrl: string, envelope: string) {
  return http.post(`${gatewayUrl}/v1/visit-tokens`, { envelope }, { headers: { 'content-type': 'application/json' } });
}

/** The whole flow for one user and product, R wrapped with `alg`; returns the VT and the product answer. */
export async function fullFlow(gatewayUrl: string, userId = 'alice', productId = 'city-pass', alg: EnvelopeAlg = 'RSA-OAEP-256') {
  const token = await demoClient(gatewayUrl).requestAccessToken({ userId, productId });
  const jwk = await fetchEncJwk(gatewayUrl, alg);
  const { envelope, r } = sealEnvelope(jwk, token.at);
  const ex = await exchange(gatewayUrl, envelope);
  if (ex.status !== 200) throw new Error(`exchange answered ${ex.status} ${JSON.stringify(ex.data)}`);
  const reply = openReply(ex.data.envelope, r);
  const product = await http.get(`${gatewayUrl}/v1/products/${productId}`, { headers: { authorization: `Bearer ${reply.vt}` } });
  return { token, reply, product };
}

export interface SignedAtRequest {
  body: string;
  headers: Record<string, string>;
  /** The signature's nonce (a signed request may be sent again: a replay). */
  nonce: string;
}

/**
 * `POST /v1/access-tokens` as a third-party backend signs it (RFC 9421), for `app` (the demo app by
 * default); `opts.secret` signs with another secret, `opts.nonce` fixes the nonce.
 */
export function signAtRequest(
  gatewayUrl: string,
  app: { appId: string; appSecret: string } = DEMO_APP,
  fields: { userId: string; productId: string } = { userId: 'alice', productId: 'city-pass' },
  opts: { secret?: string; nonce?: string } = {},
): SignedAtRequest {
  const body = JSON.stringify(fields);
  const headers = { 'content-type': 'application/json' };
  const sig = signRequest({ method: 'POST', targetUri: `${gatewayUrl}/v1/access-tokens`, headers, body, keyId: app.appId, secret: opts.secret ?? app.appSecret, nonce: opts.nonce });
  return { body, headers: { ...headers, ...sig }, nonce: /nonce="([^"]+)"/.exec(sig['signature-input'])![1]! };
}

/** Sends a signed AT request as it is; the raw answer. */
export function postAtRequest(gatewayUrl: string, signed: Pick<SignedAtRequest, 'body' | 'headers'>) {
  return http.post(`${gatewayUrl}/v1/access-tokens`, signed.body, { headers: signed.headers, transformRequest: [(d) => d] });
}
