/**
 * The page's own words around a product, in the product's language (`lang` from the product API).
 * The errors shown before a product is known stay in English (errors.ts), marked `lang="en"`.
 */
export interface Labels {
  highlights: string;
  about: string;
  documents: string;
  per: (amount: string, period: string) => string;
  price: string;
  /** "Opened from Wanderly for Chen Wei". */
  openedFrom: (appName: string, person: string | undefined) => string;
  newWindow: string;
}

const EN: Labels = {
  highlights: 'Highlights',
  about: 'About this product',
  documents: 'Documents',
  per: (a, p) => `${a} per ${p}`,
  price: 'Price',
  openedFrom: (app, person) => (person ? `Opened from ${app} for ${person}` : `Opened from ${app}`),
  newWindow: '(opens in a new window)',
};

const LABELS: Record<string, Labels> = {
  en: EN,
  zh: {
    highlights: '亮点',
    about: '产品介绍',
    documents: '相关文件',
    per: (a, p) => `${a}/${p}`,
    price: '价格',
    openedFrom: (app, person) => (person ? `由 ${app} 为 ${person} 打开` : `由 ${app} 打开`),
    newWindow: '（在新窗口中打开）',
  },
  ar: {
    highlights: 'أبرز المزايا',
    about: 'عن هذا المنتج',
    documents: 'المستندات',
    per: (a, p) => `${a} لمدة ${p}`,
    price: 'السعر',
    openedFrom: (app, person) => (person ? `فُتحت من ${app} لـ ${person}` : `فُتحت من ${app}`),
    newWindow: '(تُفتح في نافذة جديدة)',
  },
  de: {
    highlights: 'Das Wichtigste',
    about: 'Über dieses Produkt',
    documents: 'Dokumente',
    per: (a, p) => `${a} pro ${p}`,
    price: 'Preis',
    openedFrom: (app, person) => (person ? `Geöffnet aus ${app} für ${person}` : `Geöffnet aus ${app}`),
    newWindow: '(öffnet in neuem Fenster)',
  },
};

/** The labels for a BCP 47 tag, by its primary language; English when unknown. */
export function labelsFor(lang: string | undefined): Labels {
  const primary = (lang ?? 'en').split('-')[0]!.toLowerCase();
  return Object.prototype.hasOwnProperty.call(LABELS, primary) ? LABELS[primary]! : EN;
}
