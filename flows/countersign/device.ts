/**
 * The device (the client of the issue) in Node: it holds the device key, makes an application
 * with its own serial number, checks that the TBS object the relay brings is signed by a pinned
 * server key and says what it applied for, shows amount and payee, and countersigns exactly the
 * TBS bytes. It never talks to the gateway: everything goes through the relay over the near link
 * (Channel). The browser's device is h5/client/countersign.ts (WebCrypto, non-extractable key).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { encryptCompact, type KeyManagementAlg } from '../../platform/crypto/jwe.ts';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import {
  canonicalParams, COUNTERSIGNATURE_TYP, TBS_TYP, type Application, type CountersignLevel, type CountersignOperation, type Receipt, type TbsClaims,
} from '../../protocol/countersign.ts';
import type { Channel } from './channel.ts';
import { es256Sign, jsonPayload, JwsError, parseJws, sha256b64u, verifyParsed } from './jws.ts';
import { jwkThumbprint, type PublicP256Jwk } from './registry.ts';
import { verifyReceipt } from './receipt.ts';

export interface DeviceKey {
  privateKey: KeyObject;
  jwk: PublicP256Jwk;
  kid: string;
}

export function deviceKeyFromPrivateJwk(jwk: JsonWebKey): DeviceKey {
  const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
  const { x, y } = createPublicKey(privateKey).export({ format: 'jwk' }) as { x: string; y: string };
  const pub: PublicP256Jwk = { kty: 'EC', crv: 'P-256', x, y };
  return { privateKey, jwk: pub, kid: jwkThumbprint(pub) };
}

/** A new P-256 key pair for a device or a relay. */
export function generateDeviceKey(): DeviceKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return deviceKeyFromPrivateJwk(privateKey.export({ format: 'jwk' }));
}

/** The broker's encryption key the password is sealed to (from its JWKS). */
export interface PasswordKey {
  kid: string;
  alg: Extract<KeyManagementAlg, 'RSA-OAEP-256' | 'ECDH-ES+A256KW'>;
  publicKey: KeyObject;
}

/** Seals `payload` (the password and what it is for) to the broker's encryption key. */
export function sealPassword(key: PasswordKey, payload: Record<string, string>): string {
  return encryptCompact({ header: { alg: key.alg, enc: 'A256GCM', kid: key.kid, cty: 'countersign-password' }, plaintext: JSON.stringify(payload), key: key.publicKey });
}

export interface DeviceOptions {
  app: string;
  sub: string;
  key: DeviceKey;
  /** The broker's signing keys, pinned while the device was online: kid -> public key. */
  pinned: (kid: string) => KeyObject | undefined;
  /** What the user sees before signing: amount, payee and the rest; false refuses. Default: approve. */
  confirm?: (shown: { operation: string; amount?: string; currency?: string; payee?: string; level: number }) => boolean | Promise<boolean>;
  /** Level 2: the offline authorization password, and the broker's key to seal it to. */
  password?: { value: string; key: PasswordKey };
  now?: () => number;
}

/** Why the device refused to countersign (nothing is signed then). */
export class DeviceRefusal extends Error {}

export class Device {
  constructor(private readonly opts: DeviceOptions) {}

  /** A new application with a fresh serial number. */
  application(operation: CountersignOperation, params: Record<string, string>, level: CountersignLevel = 1): Application {
    return { serial: randomBytesPooled(18).toString('base64url'), app: this.opts.app, sub: this.opts.sub, kid: this.opts.key.kid, operation, params, level };
  }

  /**
   * Checks the TBS object against the application it answers and countersigns its exact bytes.
   * Throws DeviceRefusal when the object is not signed by a pinned key, or says anything other than
   * what was applied for, or is expired, or the user declines.
   */
  async countersign(application: Application, tbs: string): Promise<{ countersignature: string; password?: string }> {
    let claims: TbsClaims;
    try {
      const jws = parseJws(tbs, TBS_TYP);
      verifyParsed(jws, this.opts.pinned(jws.header.kid));
      claims = jsonPayload(jws) as unknown as TbsClaims;
    } catch (err) {
      if (err instanceof JwsError) throw new DeviceRefusal('the object is not signed by the pinned server key');
      throw err;
    }
    const p = application.params;
    const same = claims.serial === application.serial && claims.op === application.operation && claims.kid === this.opts.key.kid
      && claims.app === application.app && claims.sub === application.sub && claims.level === application.level
      && claims.pd === sha256b64u(canonicalParams(p)) && claims.amount === p.amount && claims.currency === p.currency && claims.payee === p.payee;
    if (!same) throw new DeviceRefusal('the object is not what was applied for');
    if (!(typeof claims.nonce === 'string' && claims.nonce.length >= 22) || claims.exp <= (this.opts.now?.() ?? Math.floor(Date.now() / 1000))) {
      throw new DeviceRefusal('the object is expired or has no nonce');
    }
    const ok = await (this.opts.confirm?.({ operation: claims.op, amount: claims.amount, currency: claims.currency, payee: claims.payee, level: claims.level }) ?? true);
    if (!ok) throw new DeviceRefusal('the user declined');
    // The payload is the TBS string itself: exactly the bytes the server signed.
    const countersignature = es256Sign({ typ: COUNTERSIGNATURE_TYP, kid: this.opts.key.kid }, Buffer.from(tbs, 'latin1'), this.opts.key.privateKey);
    if (claims.level === 2 && this.opts.password) {
      return { countersignature, password: sealPassword(this.opts.password.key, { purpose: 'authorize', aid: claims.aid, pw: this.opts.password.value }) };
    }
    return { countersignature };
  }

  /**
   * The device's side of one authorization over the near link: sends the application, answers
   * the TBS object with the countersignature (or a refusal), and returns the relay's result. A
   * grant in it is checked against its receipt with the pinned keys.
   */
  async authorize(channel: Channel, application: Application): Promise<Record<string, unknown>> {
    channel.send({ type: 'application', application });
    const msg = await channel.receive();
    if (msg.type !== 'tbs' || typeof msg.tbs !== 'string') return msg;
    try {
      const signed = await this.countersign(application, msg.tbs);
      channel.send({ type: 'countersignature', auth_req_id: msg.auth_req_id, ...signed });
    } catch (err) {
      if (!(err instanceof DeviceRefusal)) throw err;
      channel.send({ type: 'refused', auth_req_id: msg.auth_req_id, reason: err.message });
      return { type: 'result', status: 'refused_by_device', reason: err.message };
    }
    const result = await channel.receive();
    if (result.status === 'approved' && typeof result.grant === 'string') {
      await verifyReceipt(result.grant, result.receipt as Receipt, this.opts.pinned);
    }
    return result;
  }
}
