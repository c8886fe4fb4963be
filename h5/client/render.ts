/**
 * The page's three views (loading, product, error), built with DOM calls only: text goes in
 * through textContent, never innerHTML, and the one style written is the `--accent` custom property
 * through the CSSOM, which the page's CSP (style-src 'self') allows.
 */
import { friendlyMessage } from './errors.ts';
import { formatPrice, type Product } from './product.ts';

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
}

/** The spinner, as the server-rendered page also shows it before the script runs. */
export function showLoading(root: HTMLElement): void {
  const box = el('div', 'loading');
  const spinner = el('div', 'spinner');
  spinner.setAttribute('aria-hidden', 'true');
  box.append(spinner, el('p', 'loading-text', 'Loading your product…'));
  replaceContent(root, box);
  setState(root, 'loading');
}

/** Renders the product. */
export function showProduct(root: HTMLElement, product: Product): void {
  if (product.accent) document.documentElement.style.setProperty('--accent', product.accent);
  document.title = product.name;

  const article = el('article', 'product');

  const hero = el('header', 'product-hero');
  if (product.category) hero.append(el('p', 'product-category', product.category));
  hero.append(el('h1', 'product-name', product.name));
  if (product.tagline) hero.append(el('p', 'product-tagline', product.tagline));
  if (product.price) hero.append(el('p', 'product-price', formatPrice(product.price)));
  article.append(hero);

  const body = el('div', 'product-body');

  if (product.highlights.length) {
    const section = el('section', 'product-highlights');
    section.setAttribute('aria-label', 'Highlights');
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
    section.append(el('h2', 'section-title', 'About this product'));
    for (const paragraph of product.description) section.append(el('p', undefined, paragraph));
    body.append(section);
  }

  const cta = el('div', 'product-cta');
  const button = el('button', 'button button-primary', 'Get started');
  button.type = 'button';
  const note = el('p', 'cta-note');
  note.setAttribute('role', 'status');
  note.hidden = true;
  // A demo page: the button only acknowledges the tap, it orders nothing.
  button.addEventListener('click', () => {
    note.textContent = 'Thanks! This is a demo, so nothing has been ordered.';
    note.hidden = false;
  });
  cta.append(button, note);
  body.append(cta);

  if (product.terms) body.append(el('p', 'product-terms', product.terms));
  article.append(body);

  const nodes: HTMLElement[] = [article];
  if (product.viewer) {
    nodes.push(el('footer', 'viewer', `Signed in via ${product.viewer.appId} as ${product.viewer.userId}`));
  }
  replaceContent(root, ...nodes);
  setState(root, 'ready');
}

/** Renders the friendly error for `code`, with a Try again button when `onRetry` is given. */
export function showError(root: HTMLElement, code: string, onRetry?: () => void): void {
  const message = friendlyMessage(code);
  const box = el('section', 'notice');
  const icon = el('div', 'notice-icon', '!');
  icon.setAttribute('aria-hidden', 'true');
  const title = el('h1', 'notice-title', message.title);
  title.tabIndex = -1;
  box.append(icon, title, el('p', 'notice-text', message.text));
  if (onRetry) {
    const retry = el('button', 'button button-primary', 'Try again');
    retry.type = 'button';
    retry.addEventListener('click', onRetry, { once: true });
    box.append(retry);
  }
  box.append(el('p', 'notice-code', `Error code: ${code}`));
  replaceContent(root, box);
  setState(root, 'error', code);
  title.focus();
}
