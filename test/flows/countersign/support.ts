/** Helpers of the countersign tests: a user with a VT, a registered device key and relay key, and one authorization run. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { expect } from 'chai';
import { channelPair } from '../../../flows/countersign/channel.ts';
import { Device, generateDeviceKey, type DeviceKey, type DeviceOptions, type PasswordKey } from '../../../flows/countersign/device.ts';
import { Relay, type RelayOptions } from '../../../flows/countersign/relay.ts';
import type { Application } from '../../../protocol/countersign.ts';
import { http, fetchEncJwk, fullFlow } from '../../support/clients.ts';
import { sealPassword } from '../../../flows/countersign/device.ts';

export const PAYMENT = { amount: '42.50', currency: 'EUR', payee: 'Lisbon Transit SA' };

export interface TestUser {
  userId: string;
  vt: string;
  deviceKey: DeviceKey;
  relayKey: DeviceKey;
  pinned: Map<string, KeyObject>;
  passwordKey: PasswordKey;
  device(opts?: Partial<DeviceOptions>): Device;
  relay(opts?: Partial<RelayOptions>): Relay;
}

let counter = 0;
/** A fresh user (own id, so per-user limits and lockouts never mix between tests). */
export async function newUser(gateway: string, prefix = 'cs-user'): Promise<TestUser> {
  const userId = `${prefix}-${process.pid}-${++counter}-${Date.now()}`;
  const { reply } = await fullFlow(gateway, userId, 'city-pass');
  const vt = reply.vt;
  const deviceKey = generateDeviceKey();
  const relayKey = generateDeviceKey();
  for (const [kind, key] of [['device', deviceKey], ['relay', relayKey]] as const) {
    const res = await registerKey(gateway, vt, kind, key);
    expect(res.status, JSON.stringify(res.data)).to.equal(201);
    expect(res.data.kid).to.equal(key.kid);
  }
  const jwks = (await http.get(`${gateway}/.well-known/jwks.json`)).data.keys as (JsonWebKey & { kid: string; use: string })[];
  const pinned = new Map(jwks.filter((k) => k.use === 'sig').map((k) => [k.kid, createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: k.x, y: k.y }, format: 'jwk' })]));
  const enc = await fetchEncJwk(gateway, 'ECDH-ES+A256KW');
  const passwordKey: PasswordKey = { kid: enc.kid, alg: 'ECDH-ES+A256KW', publicKey: createPublicKey({ key: { ...enc } as Record<string, string>, format: 'jwk' }) };
  return {
    userId, vt, deviceKey, relayKey, pinned, passwordKey,
    device: (opts = {}) => new Device({ app: 'demo-app', sub: userId, key: deviceKey, pinned: (kid) => pinned.get(kid), ...opts }),
    relay: (opts = {}) => new Relay({ gateway, key: relayKey, sleep: async () => undefined, ...opts }),
  };
}

export function registerKey(gateway: string, vt: string, kind: 'device' | 'relay', key: { jwk: object }) {
  return http.post(`${gateway}/v1/countersign/keys`, { kind, jwk: key.jwk }, { headers: { authorization: `Bearer ${vt}` } });
}

export function setPassword(gateway: string, user: TestUser, pw: string) {
  const password = sealPassword(user.passwordKey, { purpose: 'set', app: 'demo-app', sub: user.userId, pw });
  return http.post(`${gateway}/v1/countersign/password`, { password }, { headers: { authorization: `Bearer ${user.vt}` } });
}

/** One authorization over an in-process near link: the relay's outcome and the device's. */
export async function authorize(device: Device, relay: Relay, application: Application) {
  const [relayEnd, deviceEnd] = channelPair();
  const [relayed, seen] = await Promise.all([relay.serve(relayEnd), device.authorize(deviceEnd, application)]);
  return { relayed, seen };
}

/** The demo product action through the gateway: `POST /v1/products/city-pass/payments`. */
export function confirmPayment(gateway: string, vt: string, body: Record<string, unknown>) {
  return http.post(`${gateway}/v1/products/city-pass/payments`, body, { headers: { authorization: `Bearer ${vt}` } });
}

/** `POST /v1/countersign/grants/redeem` as a product backend calls it. */
export function redeem(gateway: string, grant: unknown, params: Record<string, string> = PAYMENT, level = 1) {
  return http.post(`${gateway}/v1/countersign/grants/redeem`, { grant, operation: 'payment.confirm', params, level });
}
