/**
 * The page's three views (loading, product, error), built with DOM calls only: text goes in
 * through textContent, never innerHTML, and no inline style is written: the product's accent
 * comes as a class naming one of app.css's colours (or, for a colour app.css does not know, the
 * `--accent` custom property through the CSSOM, which the page's CSP allows).
 */
import { friendlyMessage, PageError } from './errors.ts';
import { goBackToApp, reportState, returnUrl } from './host-bridge.ts';
import { fill } from './i18n.ts';
import { formatAmount, formatPrice, type Product } from './product.ts';

type State = 'loading' | 'ready' | 'error';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** replaceChildren, for the older webviews the forge fallback exists for. */
function replaceContent(root: HTMLElement, ...nodes: Node[]): void {
  while (root.firstChild) root.removeChild(root.firstChild);
  root.append(...nodes);
}

function setState(root: HTMLElement, state: State, errorCode?: string): void {
  document.body.dataset.state = state;
  if (errorCode) document.body.dataset.errorCode = errorCode;
  else delete document.body.dataset.errorCode;
  if (state === 'loading') root.setAttribute('aria-busy', 'true');
  else root.removeAttribute('aria-busy');
  reportState(state, errorCode);
}

/** The server-rendered skeleton (the product's name and colour), kept to show again on a retry. */
let skeleton: Node | undefined;

/**
 * Moves focus to `heading` when the page is the top-level document (a WebView) or already has
 * the focus: inside a host app's frame the page never pulls focus away from the app.
 */
function focusHeading(heading: HTMLElement): void {
  if (window.parent === window || document.hasFocus()) heading.focus({ preventScroll: true });
}

/** The skeleton as the server rendered it (or a spinner when there is none). */
export function showLoading(root: HTMLElement): void {
  const rendered = root.querySelector('.skeleton');
  if (rendered && !skeleton) skeleton = rendered.cloneNode(true);
  if (rendered) return setState(root, 'loading');
  if (skeleton) {
    replaceContent(root, skeleton.cloneNode(true));
    return setState(root, 'loading');
  }
  const box = el('div', 'loading');
  const spinner = el('div', 'spinner');
  spinner.setAttribute('aria-hidden', 'true');
  const text = el('p', 'loading-text', 'Loading your product…');
  text.setAttribute('role', 'status');
  text.lang = 'en';
  box.append(spinner, text);
  replaceContent(root, box);
  setState(root, 'loading');
}

/** Sets the document's language and direction from the product (the content's, not the device's). */
function applyLanguage(product: Product): void {
  const html = document.documentElement;
  if (product.lang) html.lang = product.lang;
  html.dir = product.dir ?? 'ltr';
}

function applyAccent(accent: string | undefined): void {
  if (!accent) return;
  const cls = `accent-${accent.slice(1).toLowerCase()}`;
  for (const c of Array.from(document.body.classList)) if (c.startsWith('accent-')) document.body.classList.remove(c);
  document.body.classList.add(cls);
  // A colour app.css has no class for: the custom property, through the CSSOM.
  if (getComputedStyle(document.body).getPropertyValue('--accent-known').trim() !== '1') {
    document.documentElement.style.setProperty('--accent', accent);
  }
}

/** Renders the product, and moves focus to its name. */
export function showProduct(root: HTMLElement, product: Product): void {
  applyLanguage(product);
  applyAccent(product.accent);
  document.title = product.name;
  const t = product.labels;
  if (product.provider) {
    const brand = document.querySelector('.brand-name');
    if (brand) brand.textContent = product.provider;
  }

  const article = el('article', 'product');

  const hero = el('header', 'product-hero');
  const heroText = el('div', 'hero-text');
  if (product.category) heroText.append(el('p', 'product-category', product.category));
  const title = el('h1', 'product-name', product.name);
  // Element Timing: when the rendered product's name is painted (what the benchmark measures).
  title.setAttribute('elementtiming', 'h5-product');
  title.tabIndex = -1;
  heroText.append(title);
  if (product.tagline) heroText.append(el('p', 'product-tagline', product.tagline));
  hero.append(heroText);
  if (product.image) {
    const img = el('img', 'product-image');
    img.src = product.image;
    img.alt = '';
    img.width = 96;
    img.height = 96;
    hero.append(img);
  }
  const figure = el('p', 'product-headline');
  if (product.headline) {
    figure.append(el('span', 'headline-value', product.headline.value));
    if (product.headline.label) figure.append(el('span', 'headline-label', product.headline.label));
    hero.append(figure);
  }
  if (product.price) {
    const price = formatPrice(product.price, product.locale, t.per);
    // Under a headline that is not the price itself (a rate), the price follows, small.
    if (!product.headline) hero.append(el('p', 'product-price', price));
    else if (product.headline.value !== formatAmount(product.price, product.locale)) hero.append(el('p', 'product-price-small', `${t.price}: ${price}`));
  }
  article.append(hero);

  const body = el('div', 'product-body');

  if (product.highlights.length) {
    const section = el('section', 'product-highlights');
    section.setAttribute('aria-label', t.highlights);
    const list = el('ul', 'highlight-list');
    for (const h of product.highlights) {
      const card = el('li', 'highlight-card');
      card.append(el('h2', 'highlight-title', h.title));
      if (h.text) card.append(el('p', 'highlight-text', h.text));
      list.append(card);
    }
    section.append(list);
    body.append(section);
  }

  if (product.description.length) {
    const section = el('section', 'product-description');
    section.append(el('h2', 'section-title', t.about));
    for (const paragraph of product.description) section.append(el('p', undefined, paragraph));
    body.append(section);
  }

  if (product.terms) body.append(el('p', 'product-terms', product.terms));

  if (product.legal.length) {
    const nav = el('nav', 'product-legal');
    nav.setAttribute('aria-label', t.documents);
    nav.append(el('h2', 'section-title', t.documents));
    const list = el('ul', 'legal-list');
    for (const doc of product.legal) {
      const item = el('li');
      const a = el('a', 'legal-link', doc.title);
      a.href = doc.href;
      // A new window: leaving this page would end the in-memory session.
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      const hint = el('span', 'visually-hidden', ` ${t.newWindow}`);
      a.append(hint);
      item.append(a);
      list.append(item);
    }
    nav.append(list);
    body.append(nav);
  }

  const cta = el('div', 'product-cta');
  const button = el('button', 'button button-primary', product.cta ?? 'Get started');
  button.type = 'button';
  const note = el('p', 'cta-note');
  note.setAttribute('role', 'status');
  // A demo page: the button only acknowledges the tap, it orders nothing.
  button.addEventListener('click', () => {
    note.textContent = product.ctaDone ?? 'Thanks! This is a demo, so nothing has been ordered.';
  });
  cta.append(button, note);
  body.append(cta);
  article.append(body);

  const nodes: HTMLElement[] = [article];
  if (product.viewer) {
    const app = product.viewer.appName ?? product.viewer.appId;
    const person = product.viewer.displayName;
    nodes.push(el('footer', 'viewer', person ? fill(t.openedFor, { app, person }) : fill(t.openedFrom, { app })));
  }
  replaceContent(root, ...nodes);
  setState(root, 'ready');
  focusHeading(title);
}

let countdown: ReturnType<typeof setInterval> | undefined;

/**
 * Renders the friendly error for `error`: its words (a network failure reads differently offline),
 * a "Try again" button when `onRetry` is given (held back while `Retry-After` runs), a "Back to the
 * app" action always, and the code and request id, small.
 */
export function showError(root: HTMLElement, error: PageError | string, onRetry?: () => void): void {
  const e = typeof error === 'string' ? new PageError(error) : error;
  const code = e.code;
  if (countdown !== undefined) clearInterval(countdown);
  countdown = undefined;
  const online = typeof navigator === 'undefined' || navigator.onLine !== false;
  const message = friendlyMessage(code, online);
  // Before a product is known the page speaks English: say so, whatever the document's lang.
  const box = el('section', 'notice');
  box.lang = 'en';
  box.dir = 'ltr';
  const icon = el('div', 'notice-icon', '!');
  icon.setAttribute('aria-hidden', 'true');
  const title = el('h1', 'notice-title', message.title);
  title.tabIndex = -1;
  box.append(icon, title, el('p', 'notice-text', message.text));
  if (!online && code === 'network_error') document.body.dataset.offline = 'true';
  else delete document.body.dataset.offline;

  const actions = el('div', 'notice-actions');
  if (onRetry) {
    const retry = el('button', 'button button-primary retry', 'Try again');
    retry.type = 'button';
    retry.addEventListener('click', onRetry, { once: true });
    if (e.retryAfter) {
      // Honour Retry-After: the button waits, and says how long.
      let left = e.retryAfter;
      const wait = el('p', 'notice-wait');
      wait.setAttribute('role', 'status');
      const tick = () => {
        wait.textContent = left > 0 ? `You can try again in ${left} second${left === 1 ? '' : 's'}.` : 'You can try again now.';
        retry.disabled = left > 0;
      };
      tick();
      countdown = setInterval(() => {
        left -= 1;
        tick();
        if (left <= 0 && countdown !== undefined) {
          clearInterval(countdown);
          countdown = undefined;
        }
      }, 1000);
      box.append(wait);
    }
    actions.append(retry);
  }
  const back = el('button', onRetry ? 'button button-secondary back' : 'button button-primary back', 'Back to the app');
  back.type = 'button';
  if (returnUrl()) back.dataset.returnUrl = 'true';
  back.addEventListener('click', () => {
    document.body.dataset.back = goBackToApp({ type: 'h5-broker:back', code, ...(e.requestId && { requestId: e.requestId }) });
  });
  actions.append(back);
  box.append(actions);

  const support = el('p', 'notice-code');
  support.append(`Error code: ${code}`);
  if (e.requestId) {
    support.append(el('br'), `Request ID: ${e.requestId}`);
    document.body.dataset.requestId = e.requestId;
  } else delete document.body.dataset.requestId;
  box.append(support);
  replaceContent(root, box);
  setState(root, 'error', code);
  focusHeading(title);
}
