/**
 * The token app (browser entry, bundled to /h5/assets/token-app.js): reads the QR payload from the
 * URL fragment (a tapped link or the camera app's), from its own camera where the browser has a
 * QR-reading `BarcodeDetector` (h5/client/camera.ts), or from a pasted text, shows what it confirms
 * (the page's origin, the masked account) before it sends anything, sends the phone's keyed hash,
 * then shows the current 6-digit code of the key.
 */
import { maskAccount, parseBindingUri, scanInput, type BindingPayload } from '../../protocol/binding.ts';
import { canScanQr, scanQr, type CameraGlobals } from './camera.ts';

const $ = (id: string) => document.getElementById(id)!;

function b64u(bytes: ArrayBuffer): string {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
const unb64u = (s: string) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

async function code(key: string, seconds: number): Promise<string> {
  const k = await crypto.subtle.importKey('raw', unb64u(key) as BufferSource, { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
  const counter = new Uint8Array(8);
  let c = Math.floor(seconds / 30);
  for (let i = 7; i >= 0; i--, c = Math.floor(c / 256)) counter[i] = c & 0xff;
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', k, counter));
  const o = mac[19]! & 0x0f;
  const bin = ((mac[o]! & 0x7f) << 24) | (mac[o + 1]! << 16) | (mac[o + 2]! << 8) | mac[o + 3]!;
  return String(bin % 1_000_000).padStart(6, '0');
}

function show(payload: BindingPayload): void {
  $('ta-paste').hidden = true;
  $('ta-status').textContent = '';
  $('ta-origin').textContent = payload.origin;
  $('ta-account').textContent = maskAccount(payload.account);
  $('ta-confirm').hidden = false;
  document.body.dataset.token = 'ready';
  $('ta-send').onclick = () => void send(payload);
}

async function send(payload: BindingPayload): Promise<void> {
  const ts = Math.floor(Date.now() / 1000);
  const k = await crypto.subtle.importKey('raw', unb64u(payload.key) as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const hash = b64u(await crypto.subtle.sign('HMAC', k, scanInput(ts, payload.link, payload.account) as BufferSource));
  const res = await fetch(`${payload.gw}/v1/binding-scans`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ link: payload.link, ts, hash }) });
  const body = (await res.json().catch(() => ({}))) as { code?: string };
  if (res.status !== 202) {
    document.body.dataset.token = 'refused';
    $('ta-status').textContent = `Refused (${body.code ?? res.status}).`;
    return;
  }
  document.body.dataset.token = 'sent';
  $('ta-status').textContent = 'Sent. Your current code:';
  const tick = async () => {
    $('ta-code').textContent = await code(payload.key, Date.now() / 1000);
  };
  await tick();
  setInterval(() => void tick(), 1000);
}

function start(): void {
  const fromUrl = parseBindingUri(location.hash);
  history.replaceState(null, '', location.pathname);
  if (fromUrl) return show(fromUrl);
  $('ta-paste').hidden = false;
  // A pasted text and a scanned code take the same path: nothing is sent before the user confirms.
  const read = (text: string): boolean => {
    const p = parseBindingUri(text);
    if (p) show(p);
    else $('ta-status').textContent = 'That is not a binding code.';
    return !!p;
  };
  $('ta-read').onclick = () => void read(($('ta-text') as HTMLTextAreaElement).value);
  void canScanQr(globalThis as CameraGlobals).then((ok) => {
    const button = $('ta-scan') as HTMLButtonElement;
    button.hidden = !ok;
    document.body.dataset.camera = ok ? 'available' : 'none';
    button.onclick = () => {
      button.disabled = true;
      $('ta-status').textContent = 'Point the camera at the code.';
      scanQr($('ta-video') as HTMLVideoElement, read).then(
        () => (document.body.dataset.camera = 'done'),
        () => {
          button.disabled = false;
          $('ta-status').textContent = 'The camera is not available: paste the text instead.';
        },
      );
    };
  });
}

start();
