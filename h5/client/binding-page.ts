/**
 * The binding page (browser entry, bundled to /h5/assets/binding.js): trades the AT of its URL for
 * a VT as the product page does, asks the gateway for a binding, shows the token app URI as a QR
 * code and as a tappable link (same device), waits on the event stream (polling where streams
 * fail), checks the phone's hash against the first key itself, confirms, and shows "bound".
 */
import { takeAccessToken } from './access-token.ts';
import QRCode from 'qrcode';
import { loadEnvelope, sealToPreferredKey } from './envelope-loader.ts';
import { fetchEncryptionJwks, postEnvelope, toVisitToken } from './gateway-api.ts';
import { confirmInput, parseBindingUri, scanInput, type BindingPayload } from '../../protocol/binding.ts';

const $ = (id: string) => document.getElementById(id)!;

function b64u(bytes: ArrayBuffer): string {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function unb64u(s: string): Uint8Array {
  return Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
}
async function hmac(key: string, data: Uint8Array): Promise<string> {
  const k = await crypto.subtle.importKey('raw', unb64u(key) as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return b64u(await crypto.subtle.sign('HMAC', k, data as BufferSource));
}

function setState(state: string, text: string): void {
  document.body.dataset.binding = state;
  $('bind-status').textContent = text;
}

async function visitToken(gateway: string, forgeSrc: string): Promise<string> {
  const at = takeAccessToken();
  if (!at) throw new Error('at_missing');
  const impl = await loadEnvelope(forgeSrc);
  const sealed = await sealToPreferredKey(impl, await fetchEncryptionJwks(gateway, impl.algorithms), at, Math.floor(Date.now() / 1000));
  return toVisitToken(await sealed.openReply(await postEnvelope(gateway, sealed.jwe, () => {}))).vt;
}

async function api(gateway: string, vt: string, method: string, path: string, body?: object): Promise<{ status: number; data: Record<string, unknown> }> {
  const res = await fetch(`${gateway}${path}`, {
    method, headers: { Authorization: `Bearer ${vt}`, ...(body ? { 'Content-Type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, data: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

async function start(): Promise<void> {
  const data = document.body.dataset;
  const gateway = (data.gateway ?? '').replace(/\/+$/, '');
  const forceTransport = new URLSearchParams(location.search).get('transport');
  try {
    const vt = await visitToken(gateway, data.forgeSrc || '/h5/assets/envelope-forge.js');
    const created = await api(gateway, vt, 'POST', '/v1/bindings', {});
    if (created.status !== 201) throw new Error(String(created.data.code));
    const bid = String(created.data.bindingId);
    const uri = String(created.data.uri);
    const payload = parseBindingUri(uri) as BindingPayload;
    ($('bind-qr') as HTMLImageElement).src = await QRCode.toDataURL(uri, { margin: 1, width: 240, errorCorrectionLevel: 'M' });
    const link = $('bind-link') as HTMLAnchorElement;
    link.href = uri;
    link.hidden = false;
    $('bind-account').textContent = String(created.data.account);
    const otp = $('bind-otpauth') as HTMLAnchorElement;
    otp.href = String(created.data.otpauthUri);
    setState('waiting', 'Scan the code with your token app.');

    let done = false;
    const onScanned = async (scan: { ts?: number; hash?: string }) => {
      if (done || !scan.hash || scan.ts === undefined) return;
      // The page's own check, with the first key: presence, not the security check (the gateway's).
      const expected = await hmac(payload.key, scanInput(scan.ts, payload.link, payload.account));
      if (expected !== scan.hash) {
        await api(gateway, vt, 'POST', `/v1/bindings/${bid}/confirm`, { refuse: true });
        return setState('refused', 'The phone answered with another key; nothing was bound.');
      }
      setState('scanned', 'Your phone answered; confirming…');
      const proof = await hmac(payload.key, confirmInput(bid, scan.hash));
      const res = await api(gateway, vt, 'POST', `/v1/bindings/${bid}/confirm`, { proof });
      if (res.status === 200) onBound(String(res.data.receipt));
    };
    const onBound = (receipt: string) => {
      if (done) return;
      done = true;
      document.body.dataset.receipt = receipt;
      // The QR holds the key: it leaves the screen once the key is bound.
      $('bind-offer').hidden = true;
      ($('bind-qr') as HTMLImageElement).removeAttribute('src');
      $('bind-done').hidden = false;
      setState('bound', 'Bound: your token key is now your second factor.');
    };
    const onEnd = (state: string) => {
      if (done) return;
      done = true;
      $('bind-offer').hidden = true;
      ($('bind-qr') as HTMLImageElement).removeAttribute('src');
      setState(state, state === 'expired' ? 'The code has expired; reload to try again.' : 'The binding was refused.');
    };

    const poll = async (): Promise<void> => {
      document.body.dataset.transport = 'poll';
      let interval = Number(created.data.interval) || 5;
      while (!done) {
        await new Promise((r) => setTimeout(r, interval * 1000));
        const res = await api(gateway, vt, 'GET', `/v1/bindings/${bid}`);
        if (res.status === 200) return onBound(String(res.data.receipt));
        const error = String(res.data.error ?? res.data.code);
        if (error === 'slow_down') interval += 1;
        else if (error === 'authorization_pending' && res.data.state === 'scanned') await onScanned(res.data.scan as { ts: number; hash: string });
        else if (error === 'expired_token') return onEnd('expired');
        else if (error === 'access_denied') return onEnd('refused');
      }
    };

    // A stock authenticator app: the typed code confirms instead of the phone's request.
    $('bind-code-send').onclick = async () => {
      const code = ($('bind-code') as HTMLInputElement).value.trim();
      const res = await api(gateway, vt, 'POST', `/v1/bindings/${bid}/confirm`, { code });
      if (res.status === 200) onBound(String(res.data.receipt));
      else $('bind-status').textContent = res.data.code === 'totp_invalid' ? 'That code is not valid; type the current one.' : 'The code could not be checked; try again.';
    };

    if (forceTransport === 'poll' || typeof EventSource === 'undefined') return void poll();
    document.body.dataset.transport = 'sse';
    const es = new EventSource(`${gateway}/v1/bindings/${bid}/events?ticket=${encodeURIComponent(String(created.data.streamTicket))}`);
    es.addEventListener('scanned', (e) => void onScanned(JSON.parse((e as MessageEvent).data)));
    es.addEventListener('bound', (e) => {
      es.close();
      onBound(String(JSON.parse((e as MessageEvent).data).receipt));
    });
    es.addEventListener('expired', () => {
      es.close();
      onEnd('expired');
    });
    es.addEventListener('refused', () => {
      es.close();
      onEnd('refused');
    });
    // A stream that fails (a WebView, a proxy): poll instead. The ticket was single use.
    es.onerror = () => {
      es.close();
      if (!done) void poll();
    };
  } catch (e) {
    setState('error', `Something went wrong (${e instanceof Error ? e.message : 'error'}).`);
  }
}

void start();
