/**
 * The product JSON of the product API, checked field by field before anything is shown: the page
 * renders only strings it has checked, and only through textContent.
 */
import { PAGE_CODES, PageError } from './errors.ts';
import { fill, labelsFrom, type Labels } from './i18n.ts';

export interface Price {
  amount: string;
  currency: string;
  period?: string;
}

export interface Highlight {
  title: string;
  text: string;
}

export interface LegalLink {
  title: string;
  /** A same-origin path under /h5/legal/. */
  href: string;
}

export interface Product {
  id: string;
  name: string;
  tagline?: string;
  category?: string;
  price?: Price;
  highlights: Highlight[];
  description: string[];
  terms?: string;
  /** A `#rrggbb` colour, or undefined when the API gave none or something else. */
  accent?: string;
  /** The provider's name, for the brand header. */
  provider?: string;
  /** The figure that matters most (a rate, a price), with its label. */
  headline?: { value: string; label?: string };
  /** The content's language (BCP 47), direction, and the locale its prices are written in. */
  lang?: string;
  dir?: 'ltr' | 'rtl';
  locale?: string;
  /** The call to action's label, and what it says once tapped. */
  cta?: string;
  ctaDone?: string;
  /** A same-origin image path under /h5/assets/. */
  image?: string;
  legal: LegalLink[];
  /** The page's words around the product, in its language (English where the API gave none). */
  labels: Labels;
  viewer?: { userId: string; appId: string; displayName?: string; appName?: string };
}

const ACCENT = /^#[0-9a-fA-F]{6}$/;
const AMOUNT = /^\d{1,12}(\.\d{1,6})?$/;
const CURRENCY = /^[A-Z]{3}$/;
/** A BCP 47 tag as the page uses it (language, optional script and region). */
const LANG = /^[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-([a-zA-Z]{2}|\d{3}))?$/;
const LEGAL_HREF = /^\/h5\/legal\/[a-z0-9-]{1,64}\/[a-z0-9-]{1,64}$/;
const IMAGE = /^\/h5\/assets\/[a-z0-9-]{1,80}\.svg$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function optString(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() ? v : undefined;
}

/** Checks the raw product JSON; a product without an id and a name is a bad response. */
export function parseProduct(raw: unknown): Product {
  if (!isObject(raw) || typeof raw.id !== 'string' || !optString(raw.name)) throw new PageError(PAGE_CODES.badResponse);
  const product: Product = {
    id: raw.id,
    name: raw.name as string,
    tagline: optString(raw.tagline),
    category: optString(raw.category),
    terms: optString(raw.terms),
    highlights: [],
    description: [],
    legal: [],
    labels: labelsFrom(raw.labels),
    provider: optString(raw.provider),
    cta: optString(raw.cta),
    ctaDone: optString(raw.ctaDone),
  };
  if (typeof raw.lang === 'string' && LANG.test(raw.lang)) product.lang = raw.lang;
  if (raw.dir === 'ltr' || raw.dir === 'rtl') product.dir = raw.dir;
  if (typeof raw.locale === 'string' && LANG.test(raw.locale)) product.locale = raw.locale;
  if (typeof raw.image === 'string' && IMAGE.test(raw.image)) product.image = raw.image;
  const hl = raw.headline;
  if (isObject(hl) && optString(hl.value)) product.headline = { value: hl.value as string, label: optString(hl.label) };
  if (Array.isArray(raw.legal)) {
    for (const l of raw.legal) {
      if (isObject(l) && optString(l.title) && typeof l.href === 'string' && LEGAL_HREF.test(l.href)) product.legal.push({ title: l.title as string, href: l.href });
    }
  }
  const p = raw.price;
  if (isObject(p) && typeof p.amount === 'string' && AMOUNT.test(p.amount) && typeof p.currency === 'string' && CURRENCY.test(p.currency)) {
    product.price = { amount: p.amount, currency: p.currency, period: optString(p.period) };
  }
  if (Array.isArray(raw.highlights)) {
    for (const h of raw.highlights) {
      if (isObject(h) && optString(h.title)) product.highlights.push({ title: h.title as string, text: optString(h.text) ?? '' });
    }
  }
  if (Array.isArray(raw.description)) {
    for (const d of raw.description) if (optString(d)) product.description.push(d as string);
  }
  if (typeof raw.accent === 'string' && ACCENT.test(raw.accent)) product.accent = raw.accent;
  const v = raw.viewer;
  if (isObject(v) && optString(v.userId) && optString(v.appId)) {
    product.viewer = { userId: v.userId as string, appId: v.appId as string, displayName: optString(v.displayName), appName: optString(v.appName) };
  }
  return product;
}

/**
 * The amount in the content's `locale` (not the device's): "€4.90" in en-IE, "¥38.00" in zh-CN,
 * "299.00 د.إ.‏" in ar-AE. `per` joins the period ("{amount} per {period}").
 */
export function formatAmount(price: Price, locale?: string): string {
  try {
    if (typeof Intl !== 'undefined' && typeof Intl.NumberFormat === 'function') {
      return new Intl.NumberFormat(locale || 'en', { style: 'currency', currency: price.currency }).format(Number(price.amount));
    }
  } catch {
    // An engine without this locale's or currency's data: fall through.
  }
  return `${price.amount} ${price.currency}`;
}

/** "€4.90 per trip", in the content's locale; `per` is the localized "{amount} per {period}". */
export function formatPrice(price: Price, locale?: string, per = '{amount} per {period}'): string {
  const amount = formatAmount(price, locale);
  return price.period ? fill(per, { amount, period: price.period }) : amount;
}
