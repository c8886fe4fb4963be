/**
 * The HTML documents of the H5 product pages. Built for a strict CSP (script-src 'self',
 * style-src 'self'): no inline script, style or event handler; the page's config reaches
 * /h5/assets/app.js through data attributes on <body>, and every interpolated value is escaped.
 */
import { escapeHtml } from '../platform/http/html.ts';

/** Where the server serves the client bundles and the stylesheet. */
export const H5_ASSETS = {
  app: '/h5/assets/app.js',
  envelopeForge: '/h5/assets/envelope-forge.js',
  css: '/h5/assets/app.css',
} as const;

function documentHtml(opts: { title: string; bodyAttributes: string; main: string; script?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(opts.title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${H5_ASSETS.css}">
${opts.script ? `<script defer src="${escapeHtml(opts.script)}"></script>\n` : ''}</head>
<body ${opts.bodyAttributes}>
${opts.main}
</body>
</html>
`;
}

/**
 * The product page: a loading state that app.js replaces with the product (or a friendly error).
 * `gatewayUrl` is the gateway's public base URL; a trailing slash is dropped.
 */
export function renderProductPage(opts: { gatewayUrl: string; productId: string; title?: string }): string {
  const gateway = opts.gatewayUrl.replace(/\/+$/, '');
  const attrs = [
    `data-gateway="${escapeHtml(gateway)}"`,
    `data-product-id="${escapeHtml(opts.productId)}"`,
    `data-forge-src="${escapeHtml(H5_ASSETS.envelopeForge)}"`,
    'data-state="loading"',
  ].join(' ');
  const main = `<main id="app" aria-live="polite" aria-busy="true">
<div class="loading">
<div class="spinner" aria-hidden="true"></div>
<p class="loading-text">Loading your product…</p>
</div>
<noscript><section class="notice"><h1 class="notice-title">JavaScript is needed</h1><p class="notice-text">This page needs JavaScript to open your product securely. Turn it on and reopen the page from the app.</p></section></noscript>
</main>`;
  return documentHtml({ title: opts.title ?? 'Product', bodyAttributes: attrs, main, script: H5_ASSETS.app });
}

/** A friendly 404 page (no script). */
export function renderNotFoundPage(): string {
  const main = `<main id="app" aria-live="polite">
<section class="notice">
<div class="notice-icon" aria-hidden="true">?</div>
<h1 class="notice-title">We couldn't find this page</h1>
<p class="notice-text">The product you are looking for does not exist or is no longer offered. Go back to the app and open it from there.</p>
<p class="notice-code">Error code: not_found</p>
</section>
</main>`;
  return documentHtml({ title: 'Page not found', bodyAttributes: 'data-state="error" data-error-code="not_found"', main });
}
