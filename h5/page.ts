/**
 * The HTML documents of the H5 product pages. Built for a strict CSP (script-src 'self',
 * style-src 'self'): no inline script, style or event handler; the page's config reaches
 * /h5/assets/app.js through data attributes on <body>, and every interpolated value is escaped.
 * The product's accent reaches the server-rendered skeleton as a class naming one of the
 * catalogue's colours (app.css), never as an inline style.
 */
import { escapeHtml } from '../platform/http/html.ts';
import { PROVIDER, type Product } from './products.ts';

/** Where the server serves the client bundles and the stylesheet. */
export const H5_ASSETS = {
  app: '/h5/assets/app.js',
  envelopeForge: '/h5/assets/envelope-forge.js',
  /** The WebCrypto envelope, loaded by app.js only where the inline boot script did not run. */
  envelopeWebCrypto: '/h5/assets/envelope-webcrypto.js',
  session: '/h5/assets/session.js',
  /** Loaded only by a product that lists actions needing the second factor. */
  secondFactor: '/h5/assets/second-factor.js',
  /** Loaded only where a native host offers the countersign relay bridge. */
  countersign: '/h5/assets/countersign.js',
  css: '/h5/assets/app.css',
} as const;

interface DocumentOptions {
  title: string;
  bodyAttributes: string;
  main: string;
  script?: string;
  lang?: string;
  dir?: 'ltr' | 'rtl';
  /** Extra <head> lines (already escaped). */
  head?: string;
}

function documentHtml(opts: DocumentOptions): string {
  return `<!doctype html>
<html lang="${escapeHtml(opts.lang ?? 'en')}" dir="${opts.dir ?? 'ltr'}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(opts.title)}</title>
<link rel="icon" href="data:,">
${opts.head ?? ''}<link rel="stylesheet" href="${H5_ASSETS.css}">
${opts.script ? `<script defer src="${escapeHtml(opts.script)}"></script>\n` : ''}</head>
<body ${opts.bodyAttributes}>
${brandHeader()}
${opts.main}
</body>
</html>
`;
}

function brandHeader(): string {
  return `<header class="brand" lang="en" dir="ltr"><span class="brand-mark" aria-hidden="true"></span><span class="brand-name">${escapeHtml(PROVIDER.name)}</span></header>`;
}

/** The CSS class carrying a product's accent (app.css has one per catalogue colour). */
export function accentClass(accent: string): string {
  return `accent-${accent.replace(/^#/, '').toLowerCase()}`;
}

/** The boot script the product page carries inline (h5/client/boot.ts) and what it reads. */
export interface PageBoot {
  /** boot.js as built: the exact text whose sha256 the CSP allows. */
  script: string;
  /** The gateway's JWKS as the page server last read it, or undefined (the boot script fetches it). */
  jwks?: unknown;
}

/** A value as JSON inside a <script> data block: `<`, `>`, `&` and the line separators escaped. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export interface ProductPageOptions {
  gatewayUrl: string;
  productId: string;
  /** The product, for the server-rendered skeleton (its name, colour, language and direction). */
  product?: Pick<Product, 'name' | 'accent' | 'lang' | 'dir'>;
  /** Where the page's "Back to the app" action goes; already checked against the registered origins. */
  returnUrl?: string;
  /** @deprecated the product's name; use `product`. */
  title?: string;
  /** The boot script, inlined (the page then starts the exchange while it is parsed). */
  boot?: PageBoot;
  /** The locale and currency of the product's prices (for the boot script to warm Intl up). */
  priceFormat?: { locale: string; currency: string };
}

/**
 * The product page: a skeleton in the product's name and colour that app.js replaces with the
 * product (or a friendly error). `gatewayUrl` is the gateway's public base URL; a trailing slash
 * is dropped.
 */
export function renderProductPage(opts: ProductPageOptions): string {
  const gateway = opts.gatewayUrl.replace(/\/+$/, '');
  const name = opts.product?.name ?? opts.title ?? 'Product';
  const attrs = [
    `data-gateway="${escapeHtml(gateway)}"`,
    `data-product-id="${escapeHtml(opts.productId)}"`,
    `data-forge-src="${escapeHtml(H5_ASSETS.envelopeForge)}"`,
    `data-webcrypto-src="${escapeHtml(H5_ASSETS.envelopeWebCrypto)}"`,
    `data-second-factor-src="${escapeHtml(H5_ASSETS.secondFactor)}"`,
    `data-countersign-src="${escapeHtml(H5_ASSETS.countersign)}"`,
    `data-session-src="${escapeHtml(H5_ASSETS.session)}"`,
    ...(opts.returnUrl ? [`data-return-url="${escapeHtml(opts.returnUrl)}"`] : []),
    ...(opts.product ? [`class="${escapeHtml(accentClass(opts.product.accent))}"`] : []),
    'data-state="loading"',
  ].join(' ');
  // The skeleton is the product's hero with its real name: what a user sees first is already
  // the product. The status line is the only live region, and says only "loading". The no-JS
  // notice is shown by `@media (scripting: none)` only (app.css), and replaced by app.js.
  const main = `<main id="app" aria-busy="true">
<article class="product skeleton">
<div class="product-hero"><h1 class="product-name">${escapeHtml(name)}</h1><p class="skeleton-line" aria-hidden="true"></p><p class="skeleton-line short" aria-hidden="true"></p></div>
<div class="loading"><div class="spinner" aria-hidden="true"></div><p class="loading-text" role="status" lang="en" dir="ltr">Loading your product…</p></div>
</article>
<section class="notice noscript-notice" lang="en" dir="ltr"><h2 class="notice-title">JavaScript is needed</h2><p class="notice-text">This page needs JavaScript to open your product securely. Turn it on and reopen the page from the app.</p></section>
</main>`;
  // Without an inline JWKS, the JWKS loads with the page, in parallel with the scripts (the boot
  // script or app.js takes it up from the preload); the session chunk loads with the page too,
  // which app.js uses where WebCrypto and IndexedDB exist (about 1 KB gzipped, fetched for nothing
  // on the forge path; a round trip saved on a reload).
  // The boot script starts the exchange while the page is parsed: a classic inline script before
  // the stylesheet (a stylesheet still loading would hold it back) and before app.js, so it always
  // runs first; it only reads its data block and starts work that goes on asynchronously. Its data
  // block carries the JWKS when the page server has it; otherwise the JWKS preload serves the boot
  // script too.
  const boot = opts.boot
    ? `<script type="application/json" id="h5-boot">${scriptJson({ gateway, ...(opts.boot.jwks !== undefined && { jwks: opts.boot.jwks }), ...opts.priceFormat })}</script>
<script>${opts.boot.script}</script>\n`
    : '';
  const head = `<link rel="preconnect" href="${escapeHtml(new URL(gateway).origin)}" crossorigin="anonymous">
${opts.boot?.jwks !== undefined ? '' : `<link rel="preload" href="${escapeHtml(gateway)}/.well-known/jwks.json" as="fetch" crossorigin="anonymous">\n`}<link rel="preload" href="${H5_ASSETS.session}" as="script">
${boot}`;
  return documentHtml({ title: name, bodyAttributes: attrs, main, script: H5_ASSETS.app, lang: opts.product?.lang, dir: opts.product?.dir, head });
}

/** A friendly 404 page (no script). */
export function renderNotFoundPage(): string {
  const main = `<main id="app">
<section class="notice">
<div class="notice-icon" aria-hidden="true">?</div>
<h1 class="notice-title">We couldn't find this page</h1>
<p class="notice-text">The product you are looking for does not exist or is no longer offered. Go back to the app and open it from there.</p>
<p class="notice-code">Error code: not_found</p>
</section>
</main>`;
  return documentHtml({ title: 'Page not found', bodyAttributes: 'data-state="error" data-error-code="not_found"', main });
}

/** A product's legal document (policy wording, key information, privacy, support), no script. */
export function renderLegalPage(product: Pick<Product, 'name' | 'accent' | 'lang' | 'dir'>, doc: { title: string; body: string[] }): string {
  const paragraphs = doc.body.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  const main = `<main id="app">
<article class="legal">
<p class="legal-product">${escapeHtml(product.name)}</p>
<h1 class="legal-title">${escapeHtml(doc.title)}</h1>
${paragraphs}
</article>
</main>`;
  return documentHtml({
    title: `${doc.title} · ${product.name}`,
    bodyAttributes: `class="${escapeHtml(accentClass(product.accent))}" data-state="legal"`,
    main,
    lang: product.lang,
    dir: product.dir,
  });
}
