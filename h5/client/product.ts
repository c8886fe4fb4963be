/**
 * The product JSON of the product API, checked field by field before anything is shown: the page
 * renders only strings it has checked, and only through textContent.
 */
import { PAGE_CODES, PageError } from './errors.ts';

export interface Price {
  amount: string;
  currency: string;
  period?: string;
}

export interface Highlight {
  title: string;
  text: string;
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
  viewer?: { userId: string; appId: string };
}

const ACCENT = /^#[0-9a-fA-F]{6}$/;
const AMOUNT = /^\d{1,12}(\.\d{1,6})?$/;
const CURRENCY = /^[A-Z]{3}$/;

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
  };
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
  if (isObject(v) && optString(v.userId) && optString(v.appId)) product.viewer = { userId: v.userId as string, appId: v.appId as string };
  return product;
}

/** "€4.90 per trip", in the reader's locale where Intl knows the currency. */
export function formatPrice(price: Price): string {
  let amount = `${price.amount} ${price.currency}`;
  try {
    if (typeof Intl !== 'undefined' && typeof Intl.NumberFormat === 'function') {
      amount = new Intl.NumberFormat(undefined, { style: 'currency', currency: price.currency }).format(Number(price.amount));
    }
  } catch {
    // An engine without this currency's data: keep "4.90 EUR".
  }
  return price.period ? `${amount} per ${price.period}` : amount;
}
