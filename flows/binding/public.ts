/**
 * The binding flow, all in the gateway: the page (with its VT) asks for a binding, the phone's
 * token app redeems the certificate link with its keyed hash, the page confirms over a held event
 * stream (or by polling), and the key becomes the account's second factor (TOTP). All state is in
 * the store, so the phone's request and the page's stream may land on different gateway processes:
 * a step's transition is a store step (consume / setIfAbsent / setIfUnchanged) and the stream
 * learns of it by publish/subscribe, then re-reads the store. See README.md.
 */
import type { Middleware } from 'koa';
import { noStore, readJsonBody, safeEqual } from '../../platform/http/body.ts';
import { Problem } from '../../platform/http/problem.ts';
import { onServerStopping } from '../../platform/http/server.ts';
import { createNetworkList, resolveClientAddress } from '../../platform/net/client-address.ts';
import { randomBytesPooled } from '../../platform/crypto/random.ts';
import { signCompact } from '../../platform/crypto/jws.ts';
import { nowSeconds } from '../../platform/time.ts';
import { ASSERTION_TYP, RECEIPT_TYP, SECOND_FACTOR_HEADER, bindingUri, confirmInput, maskAccount, scanInput, type BindingEvent } from '../../protocol/binding.ts';
import { relay } from '../../platform/http/upstream.ts';
import type { GatewayDeps } from '../deps.ts';
import type { VisitTokenChecker } from '../visit-token/checker.ts';
import type { AppRouter, RequestContext } from '../../platform/http/state.ts';
import {
  BINDING_ID_RE, END_TTL_SECONDS, HASH_RE, LINK_BYTES, LINK_RE, TICKET_RE, TOKEN_KEY_BYTES, accountId, accountName, createBindingKeys,
  deriveBindingKek, hmac, keys, parseJson, readState, type AccountRecord, type EndRecord, type ScanRecord, type SessionRecord,
} from './records.ts';
import { matchingStep, otpauthUri, timeStep } from './totp.ts';
import type { BindingConfig } from './settings.ts';

export const BINDING_DEFAULTS: BindingConfig = { ttlSeconds: 120, heartbeatSeconds: 15, clockWindowSeconds: 60 };
/** Polling: the interval the page is given (s); a poll sooner than that is `slow_down`. */
export const POLL_INTERVAL_SECONDS = 2;
/** Link redemptions per client address: a burst of this many, then one per LIMIT_WINDOW / this. */
export const SCAN_LIMIT = 30;
/** Bindings started per account. */
export const CREATE_LIMIT = 10;
/** Second-factor attempts per account. */
export const CODE_LIMIT = 5;
const LIMIT_WINDOW_MS = 60_000;
export { RECEIPT_TYP, ASSERTION_TYP } from '../../protocol/binding.ts';
const ISSUER_NAME = 'H5 broker';

type Ctx = RequestContext;

/** Mounts the flow on the gateway's router. */
export function mountBindingPublic(router: AppRouter, deps: GatewayDeps, shared: { browserCors: Middleware; visitTokens: VisitTokenChecker }): void {
  const cfg = { ...BINDING_DEFAULTS, ...deps.config.binding };
  const bk = createBindingKeys(cfg.kek ?? deriveBindingKek(deps.config.internalToken));
  const store = deps.store;
  const trustedProxies = createNetworkList(deps.config.trustedProxies ?? []);
  const tokenAppUrl = `${deps.config.h5Origin}/h5/token-app`;
  const cors = shared.browserCors;
  const browserOrigins = new Set([deps.config.h5Origin, ...deps.config.corsOrigins]);

  async function viewer(ctx: Ctx): Promise<{ app: string; sub: string; acct: string }> {
    const checked = await shared.visitTokens.presented(ctx);
    if (!checked) throw new Problem('vt_invalid', 'Send a live visit token as "Authorization: Bearer <VT>" (or "DPoP <VT>" with a DPoP proof when it is bound to a key).');
    return { app: checked.claims.app, sub: checked.claims.sub, acct: accountId(checked.claims.app, checked.claims.sub) };
  }

  /** The session of `bid` when it is the viewer's; else binding_not_found (another's looks like none). */
  async function ownSession(ctx: Ctx, who: { app: string; sub: string }): Promise<{ bid: string; session: SessionRecord }> {
    const bid = ctx.params.bid ?? '';
    const session = BINDING_ID_RE.test(bid) ? parseJson<SessionRecord>(await store.get(keys.session(bid))) : undefined;
    if (!session || session.app !== who.app || session.sub !== who.sub) {
      const end = BINDING_ID_RE.test(bid) ? parseJson<EndRecord>(await store.get(keys.end(bid))) : undefined;
      if (end && end.app === who.app && end.sub === who.sub) throw new Problem('expired_token', 'The binding has ended.', { extensions: { error: 'expired_token' } });
      throw new Problem('binding_not_found', 'There is no such binding for this account.');
    }
    return { bid, session };
  }

  async function limit(ctx: Ctx, key: string, n: number, detail: string): Promise<void> {
    const r = await store.rateLimit(key, n, LIMIT_WINDOW_MS);
    if (!r.allowed) throw new Problem('rate_limited', detail, { headers: { 'Retry-After': String(Math.ceil(r.retryAfterMs / 1000)) } });
  }

  /**
   * Checks a second-factor code of the account's bound key: attempts limited per account, a step
   * at or before the last accepted one refused, the accepted step recorded by compare-and-set (of
   * two requests with one code, one wins). One generic error for every refusal.
   */
  async function checkCode(ctx: Ctx, who: { acct: string }, code: unknown): Promise<{ record: AccountRecord; raw: string }> {
    const raw = await store.get(keys.account(who.acct));
    const record = parseJson<AccountRecord>(raw);
    if (!raw || !record) throw new Problem('binding_not_found', 'This account has no bound token key.');
    await limit(ctx, `bind:rl:code:${who.acct}`, CODE_LIMIT, 'Too many second-factor attempts; try again after Retry-After.');
    const refused = () => new Problem('totp_invalid', 'The code is not valid.');
    const key = bk.open(record.key, who.acct);
    const step = typeof code === 'string' && key ? matchingStep(key, code, nowSeconds()) : undefined;
    if (step === undefined) throw refused();
    const lastKey = keys.lastStep(who.acct, record.bid);
    const last = await store.get(lastKey);
    if (last !== null && step <= Number(last)) throw refused();
    if (!(await store.setIfUnchanged(lastKey, last, { [lastKey]: String(step) }))) throw refused();
    return { record, raw };
  }

  /** Ends a binding once (the first end wins), frees its records and wakes its stream. */
  async function end(bid: string, rec: EndRecord): Promise<EndRecord> {
    const won = await store.setIfAbsent(keys.end(bid), JSON.stringify(rec), END_TTL_SECONDS);
    const final = won ? rec : parseJson<EndRecord>(await store.get(keys.end(bid))) ?? rec;
    await Promise.all([store.delete(keys.session(bid)), store.delete(keys.scanned(bid)), store.delete(keys.confirmed(bid))]);
    await store.publish(keys.channel(bid), final.state);
    return final;
  }

  // ---- create: POST /v1/bindings (the page, with its VT) ----
  router.options('/v1/bindings', cors);
  router.post('/v1/bindings', cors, async function createBinding(ctx: Ctx) {
    noStore(ctx);
    const who = await viewer(ctx);
    await limit(ctx, `bind:rl:create:${who.acct}`, CREATE_LIMIT, 'Too many bindings started for this account; try again after Retry-After.');
    const { body } = await readJsonBody(ctx, { limit: 1024 });
    // The account record's exact text is what the bind compares against (null: none; the marker an
    // interrupted unbind may leave counts as unbound).
    let prev = await store.get(keys.account(who.acct));
    if (parseJson<AccountRecord>(prev)) {
      // A re-bind replaces the bound key: only with its current code.
      if (body.code === undefined) throw new Problem('binding_exists', 'This account already has a bound token key; send its current code to bind another.');
      prev = (await checkCode(ctx, who, body.code)).raw;
    }
    const bid = randomBytesPooled(16).toString('base64url');
    const link = randomBytesPooled(LINK_BYTES).toString('base64url');
    const tokenKey = randomBytesPooled(TOKEN_KEY_BYTES);
    const ticket = randomBytesPooled(32).toString('base64url');
    const exp = nowSeconds() + cfg.ttlSeconds;
    const session: SessionRecord = { app: who.app, sub: who.sub, key: bk.seal(tokenKey, who.acct), link: keys.link(link), prev, exp };
    const ok = (await store.setIfAbsent(keys.session(bid), JSON.stringify(session), cfg.ttlSeconds))
      && (await store.setIfAbsent(keys.link(link), JSON.stringify({ bid, exp }), cfg.ttlSeconds))
      && (await store.setIfAbsent(keys.ticket(ticket), JSON.stringify({ bid, exp }), cfg.ttlSeconds));
    if (!ok) throw new Problem('internal_error', 'A fresh random value was already taken.');
    const account = accountName(who.app, who.sub);
    // The page's origin as the token app shows it: one the gateway's CORS allows, else the H5 pages'.
    const origin = browserOrigins.has(ctx.get('origin')) ? ctx.get('origin') : deps.config.h5Origin;
    const uri = bindingUri(tokenAppUrl, { v: 1, gw: deps.config.issuer, origin, link, key: tokenKey.toString('base64url'), account });
    ctx.status = 201;
    ctx.body = {
      bindingId: bid, uri, otpauthUri: otpauthUri(tokenKey, { issuer: ISSUER_NAME, account }), account: maskAccount(account),
      expiresIn: cfg.ttlSeconds, interval: POLL_INTERVAL_SECONDS, streamTicket: ticket,
    };
  });

  // ---- a new stream ticket, to resume a stream (POST /v1/bindings/:bid/tickets) ----
  router.options('/v1/bindings/:bid/tickets', cors);
  router.post('/v1/bindings/:bid/tickets', cors, async function newTicket(ctx: Ctx) {
    noStore(ctx);
    const { bid, session } = await ownSession(ctx, await viewer(ctx));
    const ticket = randomBytesPooled(32).toString('base64url');
    await store.setIfAbsent(keys.ticket(ticket), JSON.stringify({ bid, exp: session.exp }), Math.max(1, session.exp - nowSeconds()));
    ctx.status = 201;
    ctx.body = { streamTicket: ticket };
  });

  // ---- the held stream: GET /v1/bindings/:bid/events?ticket= (SSE) ----
  router.get('/v1/bindings/:bid/events', cors, async function streamEvents(ctx: Ctx) {
    noStore(ctx);
    const bid = ctx.params.bid ?? '';
    const ticket = typeof ctx.query.ticket === 'string' ? ctx.query.ticket : '';
    const refused = () => new Problem('binding_ticket_invalid', 'The stream ticket is unknown, used or for another binding.');
    if (!BINDING_ID_RE.test(bid) || !TICKET_RE.test(ticket)) throw refused();
    const spent = await store.consume(keys.ticket(ticket), { tombstone: 'used:ticket', ttlSeconds: cfg.ttlSeconds, now: nowSeconds(), require: { bid } });
    if (spent.outcome !== 'consumed') throw refused();
    const lastHeader = ctx.get('last-event-id') || (typeof ctx.query.lastEventId === 'string' ? ctx.query.lastEventId : '');
    let lastId = /^[0-3]$/.test(lastHeader) ? Number(lastHeader) : 0;
    const session = parseJson<SessionRecord>(await store.get(keys.session(bid)));
    const exp = session?.exp ?? nowSeconds();

    // Written to the response directly (Koa does not pipe it): a page that goes away is the
    // normal end of a stream, not an error to report.
    ctx.status = 200;
    ctx.set('Content-Type', 'text/event-stream; charset=utf-8');
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Accel-Buffering', 'no');
    ctx.respond = false;
    const res = ctx.res;
    res.flushHeaders();
    ctx.req.socket.setNoDelay(true);
    const out = { write: (text: string) => void (res.writableEnded || res.write(text)), end: () => void (res.writableEnded || res.end()) };
    let closed = false;
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe: (() => Promise<void>) | undefined;
    const write = (id: number, event: BindingEvent, data: object) => {
      if (closed || id <= lastId) return;
      lastId = id;
      out.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const finish = () => {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      forgetStop();
      void unsubscribe?.().catch(() => {});
      out.end();
    };
    const forgetStop = onServerStopping(ctx.res, finish);
    res.once('close', finish);
    out.write(`retry: 3000\n\n`);

    let reading: Promise<void> = Promise.resolve();
    const refresh = () => {
      reading = reading.then(async () => {
        if (closed) return;
        const s = await readState(store, bid);
        if (!s || s.state === 'expired') {
          write(3, 'expired', {});
          return finish();
        }
        if (s.state === 'waiting') return write(1, 'waiting', { expiresAt: exp });
        write(1, 'waiting', { expiresAt: exp });
        if (s.state === 'scanned') return write(2, 'scanned', s.scan ? { ts: s.scan.ts, hash: s.scan.hash } : {});
        write(2, 'scanned', {});
        if ('end' in s) write(3, s.state, s.end.receipt ? { receipt: s.end.receipt } : {});
        finish();
      }).catch(() => finish());
    };
    unsubscribe = await store.subscribe(keys.channel(bid), refresh);
    if (closed) void unsubscribe().catch(() => {});
    refresh();
    timers.push(setInterval(() => !closed && out.write(': heartbeat\n\n'), cfg.heartbeatSeconds * 1000));
    // The held connection is dropped when the phone has not answered in time: the binding expires.
    timers.push(setTimeout(() => {
      void end(bid, { state: 'expired', app: session?.app, sub: session?.sub }).then(async () => {
        await store.delete(keys.ticket(ticket));
        refresh();
      }, () => finish());
    }, Math.max(0, exp * 1000 - Date.now())));
  });

  // ---- the phone: POST /v1/binding-scans {link, ts, hash} ----
  router.options('/v1/binding-scans', cors);
  router.post('/v1/binding-scans', cors, async function scan(ctx: Ctx) {
    noStore(ctx);
    const client = resolveClientAddress(ctx.req.socket.remoteAddress, ctx.get('x-forwarded-for') || undefined, trustedProxies);
    await limit(ctx, `bind:rl:scan:${client.address}`, SCAN_LIMIT, 'Too many binding links from this network address; try again after Retry-After.');
    const { body } = await readJsonBody(ctx, { limit: 1024 });
    const { link, ts, hash } = body;
    if (typeof link !== 'string' || !LINK_RE.test(link) || typeof hash !== 'string' || !HASH_RE.test(hash) || !Number.isSafeInteger(ts)) {
      throw new Problem('invalid_request', 'Send {"link", "ts" (unix s), "hash" (base64url HMAC-SHA-256)}.');
    }
    const linkInvalid = () => new Problem('binding_link_invalid', 'The binding link is unknown, expired or already used.');
    const target = parseJson<{ bid: string; exp: number }>(await store.get(keys.link(link)));
    const session = target && parseJson<SessionRecord>(await store.get(keys.session(target.bid)));
    if (!target || !session) throw linkInvalid();
    const account = accountName(session.app, session.sub);
    const tokenKey = bk.open(session.key, accountId(session.app, session.sub));
    if (!tokenKey || !safeEqual(hmac(tokenKey, scanInput(ts as number, link, account)), hash)) {
      throw new Problem('binding_proof_invalid', 'The hash does not match this link, timestamp and account.');
    }
    if (Math.abs((ts as number) - nowSeconds()) > cfg.clockWindowSeconds) {
      throw new Problem('binding_clock_skew', "The phone's timestamp is too far from the server's clock; check the phone's time.");
    }
    const scanRec: ScanRecord = { ts: ts as number, hash, exp: session.exp };
    const step = await store.consume(keys.link(link), {
      tombstone: `used:${target.bid}`, ttlSeconds: cfg.ttlSeconds, now: nowSeconds(), require: { bid: target.bid },
      companions: [{ key: keys.scanned(target.bid), ttlSeconds: cfg.ttlSeconds, value: JSON.stringify(scanRec) }],
    });
    if (step.outcome !== 'consumed') throw linkInvalid();
    await store.publish(keys.channel(target.bid), 'scanned');
    ctx.status = 202;
    ctx.body = { status: 'scanned', account: maskAccount(account) };
  });

  // ---- the page confirms (or refuses): POST /v1/bindings/:bid/confirm {proof} | {refuse: true} ----
  router.options('/v1/bindings/:bid/confirm', cors);
  router.post('/v1/bindings/:bid/confirm', cors, async function confirm(ctx: Ctx) {
    noStore(ctx);
    const who = await viewer(ctx);
    const { bid, session } = await ownSession(ctx, who);
    const { body } = await readJsonBody(ctx, { limit: 1024 });
    const conflict = (detail: string) => new Problem('binding_conflict', detail);
    const tokenKey = bk.open(session.key, who.acct);
    if (!tokenKey) throw new Problem('internal_error', 'The binding cannot be read.');
    if (typeof body.code === 'string' && body.proof === undefined) {
      // A stock authenticator app (the otpauth URI): the typed code stands for the phone's request.
      await limit(ctx, `bind:rl:code:${who.acct}`, CODE_LIMIT, 'Too many second-factor attempts; try again after Retry-After.');
      const step = matchingStep(tokenKey, body.code, nowSeconds());
      if (step === undefined) throw new Problem('totp_invalid', 'The code is not valid.');
      const viaCode: ScanRecord = { ts: nowSeconds(), hash: '', exp: session.exp };
      const taken = await store.consume(session.link, {
        tombstone: `used:${bid}`, ttlSeconds: cfg.ttlSeconds, now: nowSeconds(), require: { bid },
        companions: [{ key: keys.confirmed(bid), ttlSeconds: cfg.ttlSeconds, value: JSON.stringify(viaCode) }],
      });
      if (taken.outcome !== 'consumed') throw conflict('The link was already used; confirm the phone\'s request instead.');
      // The code that bound the key is spent: it does not pass again as a second factor.
      await store.setIfAbsent(keys.lastStep(who.acct, bid), String(step), END_TTL_SECONDS + cfg.ttlSeconds);
    } else {
      const scannedText = await store.get(keys.scanned(bid));
      if (scannedText === null) throw conflict('The phone has not sent its request yet.');
      const scan = parseJson<ScanRecord>(scannedText) ?? parseJson<ScanRecord>(await store.get(keys.confirmed(bid)));
      if (!scan) throw conflict('This binding was already confirmed or refused.');
      if (body.refuse === true) {
        const r = await store.consume(keys.scanned(bid), { tombstone: 'used:refused', ttlSeconds: cfg.ttlSeconds, now: nowSeconds() });
        if (r.outcome !== 'consumed') throw conflict('This binding was already confirmed or refused.');
        await end(bid, { state: 'refused', app: who.app, sub: who.sub });
        ctx.body = { status: 'refused' };
        return;
      }
      if (typeof body.proof !== 'string' || !safeEqual(hmac(tokenKey, confirmInput(bid, scan.hash)), body.proof)) {
        throw new Problem('binding_proof_invalid', "The confirmation does not match the phone's request.");
      }
      // scanned -> confirmed (once; a retry after a lost answer finds it confirmed and goes on) ...
      const toConfirmed = await store.consume(keys.scanned(bid), {
        tombstone: 'used:confirmed', ttlSeconds: cfg.ttlSeconds, now: nowSeconds(),
        companions: [{ key: keys.confirmed(bid), ttlSeconds: cfg.ttlSeconds, copy: true }],
      });
      if (toConfirmed.outcome === 'used' && toConfirmed.tombstone !== 'used:confirmed') throw conflict('This binding was refused.');
      if (toConfirmed.outcome !== 'consumed' && toConfirmed.outcome !== 'used') throw conflict('This binding has expired.');
    }
    // ... -> bound: of every confirmation, the one that consumes `confirmed` binds.
    const toBound = await store.consume(keys.confirmed(bid), { tombstone: 'used:bound', ttlSeconds: cfg.ttlSeconds, now: nowSeconds() });
    if (toBound.outcome !== 'consumed') throw conflict('This binding was already confirmed.');
    const record: AccountRecord = { bid, key: session.key, boundAt: nowSeconds() };
    const acctKey = keys.account(who.acct);
    if (!(await store.setIfUnchanged(acctKey, session.prev, { [acctKey]: JSON.stringify(record) }))) {
      await end(bid, { state: 'refused', app: who.app, sub: who.sub });
      throw conflict("The account's binding changed while this one waited; start again.");
    }
    const receipt = signCompact({ typ: RECEIPT_TYP, kid: bk.receiptKid }, {
      iss: deps.config.issuer, app: who.app, sub: who.sub, bid, iat: record.boundAt,
      // Names the bound key without revealing it: a keyed hash of a fixed label.
      kth: hmac(tokenKey, new TextEncoder().encode('h5b-bind-key-id')).slice(0, 22),
    }, bk.receiptKey);
    const final = await end(bid, { state: 'bound', receipt, app: who.app, sub: who.sub });
    ctx.body = { status: final.state, receipt: final.receipt };
  });

  // ---- polling, RFC 8628's vocabulary: GET /v1/bindings/:bid ----
  router.options('/v1/bindings/:bid', cors);
  router.get('/v1/bindings/:bid', cors, async function poll(ctx: Ctx) {
    noStore(ctx);
    const who = await viewer(ctx);
    const bid = ctx.params.bid ?? '';
    const ended = BINDING_ID_RE.test(bid) ? parseJson<EndRecord>(await store.get(keys.end(bid))) : undefined;
    if (!ended) await ownSession(ctx, who);
    else if (ended.app !== who.app || ended.sub !== who.sub) throw new Problem('binding_not_found', 'There is no such binding for this account.');
    const pending = (code: 'authorization_pending' | 'slow_down' | 'expired_token' | 'access_denied', detail: string, ext: Record<string, unknown> = {}) =>
      new Problem(code, detail, { extensions: { error: code, ...ext } });
    if (!(await store.setIfAbsent(keys.poll(bid), '1', POLL_INTERVAL_SECONDS))) {
      throw pending('slow_down', `Poll at most every ${POLL_INTERVAL_SECONDS} s.`, { interval: POLL_INTERVAL_SECONDS + 1 });
    }
    const s = await readState(store, bid);
    if (!s || s.state === 'expired') throw pending('expired_token', 'The binding has expired; start again.');
    if (s.state === 'refused') throw pending('access_denied', 'The binding was refused.');
    if (s.state === 'bound') {
      ctx.body = { status: 'bound', receipt: s.end.receipt };
      return;
    }
    throw pending('authorization_pending', s.state === 'scanned' ? 'The phone has answered; confirm it.' : 'Waiting for the phone.', {
      state: s.state, ...(s.state === 'scanned' && s.scan ? { scan: { ts: s.scan.ts, hash: s.scan.hash } } : {}),
    });
  });

  // ---- account care ----
  router.options('/v1/bindings/unbind', cors);
  router.post('/v1/bindings/unbind', cors, async function unbind(ctx: Ctx) {
    noStore(ctx);
    const who = await viewer(ctx);
    const { body } = await readJsonBody(ctx, { limit: 1024 });
    const { record, raw } = await checkCode(ctx, who, body.code);
    const acctKey = keys.account(who.acct);
    // Only the record the code was checked against: a re-bind in between wins.
    if (!(await store.setIfUnchanged(acctKey, raw, { [acctKey]: 'unbound' }))) throw new Problem('binding_conflict', 'The binding changed meanwhile.');
    await store.delete(acctKey);
    await store.delete(keys.lastStep(who.acct, record.bid));
    ctx.body = { status: 'unbound' };
  });

  // ---- the second factor: POST /v1/second-factor {code, action} -> a signed assertion ----
  router.options('/v1/second-factor', cors);
  router.post('/v1/second-factor', cors, async function secondFactor(ctx: Ctx) {
    noStore(ctx);
    const who = await viewer(ctx);
    const { body } = await readJsonBody(ctx, { limit: 1024 });
    const action = typeof body.action === 'string' && /^[a-z0-9-]{1,64}$/.test(body.action) ? body.action : undefined;
    if (!action) throw new Problem('invalid_request', 'Send {"code", "action"}.');
    await checkCode(ctx, who, body.code);
    const iat = nowSeconds();
    const assertion = signCompact({ typ: ASSERTION_TYP, kid: bk.receiptKid }, { iss: deps.config.issuer, app: who.app, sub: who.sub, act: action, iat, exp: iat + 60 }, bk.receiptKey);
    ctx.body = { status: 'verified', assertion, step: timeStep(iat) };
  });

  // ---- a product action that needs the second factor: POST /v1/products/:productId/actions/:action {code} ----
  // The product backend marks the action and refuses it without a valid assertion; the gateway
  // checks the code, signs the assertion for this user, app and action, and passes both on.
  router.options('/v1/products/:productId/actions/:action', cors);
  router.post('/v1/products/:productId/actions/:action', cors, async function secondFactorAction(ctx: Ctx) {
    noStore(ctx);
    const checked = await shared.visitTokens.presented(ctx);
    if (!checked) throw new Problem('vt_invalid', 'Send a live visit token as "Authorization: Bearer <VT>" (or "DPoP <VT>" with a DPoP proof when it is bound to a key).');
    const vt = checked.vt;
    const productId = ctx.params.productId ?? '';
    const action = ctx.params.action ?? '';
    if (checked.record.productId !== productId) throw new Problem('forbidden_product', 'This visit token is for another product.');
    if (!/^[a-z0-9-]{1,64}$/.test(action)) throw new Problem('not_found');
    const { body } = await readJsonBody(ctx, { limit: 1024 });
    const who = { app: checked.claims.app, sub: checked.claims.sub, acct: accountId(checked.claims.app, checked.claims.sub) };
    await checkCode(ctx, who, body.code);
    const iat = nowSeconds();
    const assertion = signCompact({ typ: ASSERTION_TYP, kid: bk.receiptKid }, { iss: deps.config.issuer, app: who.app, sub: who.sub, aud: productId, act: action, iat, exp: iat + 60 }, bk.receiptKey);
    const answer = await deps.products.request(ctx.state.requestId, 'POST', `/products/${encodeURIComponent(productId)}/actions/${encodeURIComponent(action)}`, {
      body: {},
      headers: { 'x-broker-app': who.app, 'x-broker-user': who.sub, 'x-broker-product': productId, 'x-broker-vt': vt, [SECOND_FACTOR_HEADER]: assertion },
    });
    relay(ctx, answer, [200]);
  });

  router.options('/v1/binding-keys', cors);
  router.get('/v1/binding-keys', cors, async function receiptKeys(ctx: Ctx) {
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = { keys: [bk.receiptJwk] };
  });
}
