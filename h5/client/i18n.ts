/**
 * The page's own words around a product, in the product's language: the product API sends them as
 * `labels` (h5/products.ts has them for en, zh, ar and de), so the script carries only the English
 * defaults. The errors shown before a product is known stay in English (errors.ts), marked `lang="en"`.
 */
export interface Labels {
  highlights: string;
  about: string;
  documents: string;
  price: string;
  /** "{amount} per {period}". */
  per: string;
  /** "Opened from {app} for {person}", and "Opened from {app}" without a person. */
  openedFor: string;
  openedFrom: string;
  newWindow: string;
}

const EN: Labels = {
  highlights: 'Highlights',
  about: 'About this product',
  documents: 'Documents',
  price: 'Price',
  per: '{amount} per {period}',
  openedFor: 'Opened from {app} for {person}',
  openedFrom: 'Opened from {app}',
  newWindow: '(opens in a new window)',
};

/** The labels of a product API answer, each falling back to English when missing or not a string. */
export function labelsFrom(raw: unknown): Labels {
  const out: Labels = { ...EN };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return out;
  for (const key of Object.keys(EN) as (keyof Labels)[]) {
    const v = (raw as Record<string, unknown>)[key];
    if (typeof v === 'string' && v.trim() && v.length <= 200) out[key] = v;
  }
  return out;
}

/** Fills `{name}` placeholders with plain text (no `$` patterns, no markup: the result goes to textContent). */
export function fill(template: string, values: Record<string, string>): string {
  return Object.keys(values).reduce((s, k) => s.split(`{${k}}`).join(values[k]!), template);
}
