/** The HTML of the binding page and of the token app page (strict CSP: no inline script or style). */
import { escapeHtml } from '../platform/http/html.ts';

function doc(title: string, attrs: string, main: string, script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/h5/assets/app.css">
<script defer src="${escapeHtml(script)}"></script>
</head>
<body ${attrs}>
${main}
</body>
</html>
`;
}

/** The page that binds a token key to the account of its AT (`#at=<AT>`). */
export function renderBindingPage(gatewayUrl: string): string {
  const attrs = `data-gateway="${escapeHtml(gatewayUrl.replace(/\/+$/, ''))}" data-forge-src="/h5/assets/envelope-forge.js" data-binding="loading"`;
  const main = `<main id="app" aria-live="polite">
<section class="notice">
<h1 class="notice-title">Bind your token app</h1>
<div class="notice-icon" id="bind-done" aria-hidden="true" hidden>✓</div>
<p class="notice-text" id="bind-status">Preparing…</p>
<p class="notice-text">Account: <strong id="bind-account"></strong></p>
<div id="bind-offer">
<p><img id="bind-qr" alt="Binding QR code" width="240" height="240"></p>
<p><a id="bind-link" hidden>On this phone? Open the token app</a></p>
<p class="notice-text"><a id="bind-otpauth">Or add it to another authenticator app</a>, then type its code:</p>
<p><input id="bind-code" inputmode="numeric" autocomplete="one-time-code" maxlength="6" size="8" aria-label="Code"> <button id="bind-code-send" type="button">Bind</button></p>
</div>
</section>
</main>`;
  return doc('Bind your token app', attrs, main, '/h5/assets/binding.js');
}

/**
 * The token app: confirms a binding from the QR payload (the fragment, its camera where the browser
 * has a QR-reading `BarcodeDetector`, or pasted text), then shows the current code.
 */
export function renderTokenAppPage(): string {
  const main = `<main id="app" aria-live="polite">
<section class="notice">
<h1 class="notice-title">Token app</h1>
<div id="ta-paste" hidden>
<p class="notice-text">Scan the code with your camera app, or paste its text here:</p>
<p><textarea id="ta-text" rows="4" cols="40"></textarea></p>
<p><button id="ta-read" type="button">Read</button> <button id="ta-scan" type="button" hidden>Scan with camera</button></p>
<p><video id="ta-video" width="240" height="240" muted playsinline hidden></video></p>
</div>
<div id="ta-confirm" hidden>
<p class="notice-text">The page at <strong id="ta-origin"></strong> asks to bind this phone to <strong id="ta-account"></strong>.</p>
<p><button id="ta-send" type="button">Confirm</button></p>
</div>
<p class="notice-text" id="ta-status"></p>
<p class="notice-title" id="ta-code"></p>
</section>
</main>`;
  return doc('Token app', 'data-token="loading"', main, '/h5/assets/token-app.js');
}
