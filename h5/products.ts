/** The sample products the provider's H5 pages show (the product backend's data). */

/** The provider whose H5 pages these are: its name heads every page. */
export const PROVIDER = { name: 'Meridian' } as const;

/** A legal document of a product, served by the H5 server at /h5/legal/<productId>/<id>. */
export interface LegalDocument {
  id: string;
  title: string;
  body: string[];
}

export interface Product {
  id: string;
  name: string;
  tagline: string;
  category: string;
  price: { amount: string; currency: string; period: string };
  /** The figure that matters most for this product, shown large in the hero. */
  headline: { value: string; label: string };
  highlights: { title: string; text: string }[];
  description: string[];
  terms: string;
  accent: string;
  /** BCP 47 language of the content, its writing direction, and the locale its prices are written in. */
  lang: string;
  dir: 'ltr' | 'rtl';
  locale: string;
  /** The call to action's label. */
  cta: string;
  /** What the CTA says it did (a demo: nothing is ordered). */
  ctaDone: string;
  legal: LegalDocument[];
}

const EN_SUPPORT: LegalDocument = {
  id: 'support',
  title: 'Support',
  body: ['Write to support@meridian.example or call +44 20 7946 0000, every day from 8:00 to 20:00. Quote the error code and request id shown on the page, if any.'],
};
const EN_PRIVACY: LegalDocument = {
  id: 'privacy',
  title: 'Privacy notice',
  body: [
    'Meridian receives from the app you came from only your user id and the name it shows you by. We use them to show this page and to answer your questions.',
    'We keep no cookie and store nothing on your device. You may ask for a copy or the deletion of your data at privacy@meridian.example.',
  ],
};

export const PRODUCTS: readonly Product[] = [
  {
    id: 'travel-insurance',
    name: 'Travel Cover Plus',
    tagline: 'Medical, baggage and cancellation cover for every trip up to 31 days.',
    category: 'Insurance',
    price: { amount: '4.90', currency: 'EUR', period: 'trip' },
    headline: { value: '€4.90', label: 'per trip, up to 31 days' },
    highlights: [
      { title: 'Medical up to €2M', text: 'Hospital stays, emergency transport and repatriation, paid directly to the clinic.' },
      { title: 'Cancellation €3,000', text: 'Illness, a missed connection or a strike at home: your prepaid costs come back.' },
      { title: '24/7 assistance', text: 'One number, in 14 languages, wherever you are.' },
    ],
    description: [
      'Cover starts the moment you leave home and ends when you are back, for trips of up to 31 days anywhere in the world except your country of residence.',
      'Claims are made in the app: photograph the receipt, confirm your bank account, and most claims are paid within five working days.',
    ],
    terms: 'Underwritten by Example Assurance SE. Excess €50 per claim on baggage. Pre-existing conditions are covered when stable for 6 months. The policy wording applies.',
    accent: '#0a7c86',
    lang: 'en',
    dir: 'ltr',
    locale: 'en-IE',
    cta: 'Get a quote',
    ctaDone: 'Thanks! This is a demo, so no quote has been requested.',
    legal: [
      { id: 'policy-wording', title: 'Policy wording', body: ['This policy covers medical costs up to €2,000,000, cancellation up to €3,000 and baggage up to €1,500 per trip, for trips of up to 31 days.', 'An excess of €50 applies to each baggage claim. Pre-existing conditions are covered when they have been stable for 6 months.'] },
      { id: 'key-information', title: 'Insurance product information document', body: ['Type of insurance: single-trip travel insurance. Insurer: Example Assurance SE.', 'What is not insured: trips over 31 days, travel in your country of residence, and losses you knew about when you bought the cover.'] },
      EN_PRIVACY,
      EN_SUPPORT,
    ],
  },
  {
    id: 'city-pass',
    name: 'Lisbon City Pass',
    tagline: 'Unlimited metro, trams and 30 museums for 72 hours.',
    category: 'Experiences',
    price: { amount: '49.00', currency: 'EUR', period: '72 hours' },
    headline: { value: '€49.00', label: 'for 72 hours' },
    highlights: [
      { title: 'Ride everything', text: 'Metro, trams (including the 28), buses, the Santa Justa lift and the Cascais train.' },
      { title: '30 museums free', text: 'Jerónimos Monastery, Belém Tower, MAAT, the Gulbenkian and more, with no queue at the till.' },
      { title: 'Starts on first use', text: 'Buy now, activate when you step on the first tram.' },
    ],
    description: [
      'The pass lives on your phone as a QR code: show it at the gate or the museum desk. It works offline once activated.',
      'Children under 4 travel and visit free with an adult holding a pass.',
    ],
    terms: 'Valid for 72 consecutive hours from first use. Non-refundable once activated. Some temporary exhibitions charge a supplement.',
    accent: '#c2410c',
    lang: 'en',
    dir: 'ltr',
    locale: 'en-IE',
    cta: 'Buy the pass',
    ctaDone: 'Thanks! This is a demo, so no pass has been bought.',
    legal: [
      { id: 'conditions', title: 'Conditions of use', body: ['The pass is valid for 72 consecutive hours from its first scan. It is personal and may not be shared.', 'It cannot be refunded once activated. Some temporary exhibitions charge a supplement.'] },
      EN_PRIVACY,
      EN_SUPPORT,
    ],
  },
  {
    id: 'savings-plus',
    name: 'Savings Plus',
    tagline: 'An instant-access savings account paying 3.10% AER.',
    category: 'Banking',
    price: { amount: '0.00', currency: 'EUR', period: 'month' },
    headline: { value: '3.10% AER', label: 'variable, paid monthly' },
    highlights: [
      { title: '3.10% AER variable', text: 'Interest calculated daily and paid monthly, on every euro from the first.' },
      { title: 'Instant access', text: 'Move money out at any time, with no notice and no penalty.' },
      { title: 'Protected', text: 'Deposits are protected up to €100,000 by the national deposit guarantee scheme.' },
    ],
    description: [
      'Open the account in minutes with your existing identity check; no new paperwork.',
      'Set a goal, round up card payments into it, and watch the interest add up in the app.',
    ],
    terms: 'AER stands for Annual Equivalent Rate. The rate is variable and may change with 14 days notice. Available to residents aged 18 or over. No monthly fee.',
    accent: '#4338ca',
    lang: 'en',
    dir: 'ltr',
    locale: 'en-IE',
    cta: 'Open an account',
    ctaDone: 'Thanks! This is a demo, so no account has been opened.',
    legal: [
      { id: 'key-facts', title: 'Key facts document', body: ['Rate: 3.10% AER variable. Interest is calculated daily and paid monthly. No monthly fee.', 'We give 14 days notice of any rate change.'] },
      { id: 'deposit-guarantee', title: 'Depositor information sheet', body: ['Eligible deposits are protected up to €100,000 per depositor by the national deposit guarantee scheme.'] },
      EN_PRIVACY,
      EN_SUPPORT,
    ],
  },
  {
    // The second language: Simplified Chinese, prices in yuan written the zh-CN way.
    id: 'travel-insurance-cn',
    name: '畅游旅行保险',
    tagline: '每次出行最长 31 天，涵盖医疗、行李和行程取消保障。',
    category: '保险',
    price: { amount: '38.00', currency: 'CNY', period: '次行程' },
    headline: { value: '100 万元', label: '医疗保障，每次行程最长 31 天' },
    highlights: [
      { title: '医疗保障最高 100 万元', text: '住院、紧急转运和送返回国，费用直接支付给医院。' },
      { title: '行程取消 2 万元', text: '因病、错过转机或罢工导致的预付费用可获赔付。' },
      { title: '全天候援助', text: '一个号码，14 种语言，随时随地为您服务。' },
    ],
    description: ['离家即开始保障，返回即结束，适用于居住国以外全球任何地区、最长 31 天的行程。', '在应用内理赔：拍下收据，确认银行账户，大多数理赔在五个工作日内支付。'],
    terms: '由示例保险公司承保。行李理赔每次免赔额 300 元。以保险条款为准。',
    accent: '#b91c1c',
    lang: 'zh-CN',
    dir: 'ltr',
    locale: 'zh-CN',
    cta: '获取报价',
    ctaDone: '谢谢！这是演示，没有提交任何报价请求。',
    legal: [
      { id: 'policy-wording', title: '保险条款', body: ['本保险每次行程的医疗费用保障最高 100 万元，行程取消最高 2 万元。'] },
      { id: 'privacy', title: '隐私声明', body: ['Meridian 仅从您来自的应用接收您的用户标识和显示名称，仅用于展示本页面和回答您的问题。'] },
      { id: 'support', title: '客户支持', body: ['请发送邮件至 support@meridian.example，并注明页面上显示的错误代码和请求编号。'] },
    ],
  },
  {
    // A right-to-left sample: Arabic, prices in dirhams written the ar-AE way.
    id: 'dubai-pass',
    name: 'بطاقة دبي السياحية',
    tagline: 'دخول غير محدود إلى المترو و25 معلمًا سياحيًا لمدة ثلاثة أيام.',
    category: 'تجارب',
    price: { amount: '299.00', currency: 'AED', period: '3 أيام' },
    headline: { value: '299 درهم', label: 'لمدة ثلاثة أيام' },
    highlights: [
      { title: 'تنقّل بلا حدود', text: 'المترو والترام والحافلات والعبّارات طوال مدة البطاقة.' },
      { title: '25 معلمًا مجانًا', text: 'برج خليفة ومتحف المستقبل ودبي فريم وغيرها، بلا انتظار.' },
      { title: 'تبدأ عند أول استخدام', text: 'اشترِ الآن وفعّلها عند أول مسح.' },
    ],
    description: ['تُحفظ البطاقة في هاتفك على شكل رمز QR، وتعمل دون اتصال بعد تفعيلها.', 'يدخل الأطفال دون سن الرابعة مجانًا برفقة بالغ يحمل بطاقة.'],
    terms: 'صالحة لمدة 72 ساعة متتالية من أول استخدام. غير قابلة للاسترداد بعد التفعيل.',
    accent: '#047857',
    lang: 'ar',
    dir: 'rtl',
    locale: 'ar-AE',
    cta: 'اشترِ البطاقة',
    ctaDone: 'شكرًا! هذا عرض تجريبي، لم يتم شراء أي بطاقة.',
    legal: [
      { id: 'conditions', title: 'شروط الاستخدام', body: ['البطاقة صالحة لمدة 72 ساعة متتالية من أول مسح، وهي شخصية ولا يجوز مشاركتها.'] },
      { id: 'privacy', title: 'إشعار الخصوصية', body: ['لا تتلقى Meridian من التطبيق الذي جئت منه سوى معرّف المستخدم والاسم الذي يظهر لك به.'] },
      { id: 'support', title: 'الدعم', body: ['راسلنا على support@meridian.example واذكر رمز الخطأ ورقم الطلب إن ظهرا على الصفحة.'] },
    ],
  },
  {
    // The long-word fixture: German compounds and a long URL, which must wrap on a 320 px screen.
    id: 'hausrat',
    name: 'Hausratversicherung Komfort',
    tagline: 'Die Hausratversicherungsgrundschutzbedingungenzusammenfassung erklärt alles: https://www.meridian.example/hausratversicherung/bedingungen/2026/komfort-tarif-vollstaendige-fassung.pdf',
    category: 'Versicherung',
    price: { amount: '7.90', currency: 'EUR', period: 'Monat' },
    headline: { value: '7,90 €', label: 'pro Monat' },
    highlights: [
      { title: 'Elementarschadenversicherungsschutz', text: 'Überschwemmungsschädenregulierungsverfahren ohne Selbstbeteiligung.' },
      { title: 'Fahrraddiebstahlversicherung', text: 'Bis 3.000 € auch nachts.' },
    ],
    description: ['Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft-Mitglieder erhalten 10 % Rabatt.'],
    terms: 'Es gelten die Versicherungsbedingungen.',
    accent: '#1d4ed8',
    lang: 'de',
    dir: 'ltr',
    locale: 'de-DE',
    cta: 'Angebot anfordern',
    ctaDone: 'Danke! Dies ist eine Demo, es wurde nichts angefordert.',
    legal: [
      { id: 'bedingungen', title: 'Versicherungsbedingungen', body: ['Es gelten die Allgemeinen Hausratversicherungsbedingungen.'] },
      { id: 'support', title: 'Kundenservice', body: ['support@meridian.example'] },
    ],
  },
];

/** The page's words around a product, by primary language (the product API sends them as `labels`). */
export const LABELS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  en: {
    highlights: 'Highlights', about: 'About this product', documents: 'Documents', price: 'Price', per: '{amount} per {period}',
    openedFor: 'Opened from {app} for {person}', openedFrom: 'Opened from {app}', newWindow: '(opens in a new window)',
  },
  zh: {
    highlights: '亮点', about: '产品介绍', documents: '相关文件', price: '价格', per: '{amount}/{period}',
    openedFor: '由 {app} 为 {person} 打开', openedFrom: '由 {app} 打开', newWindow: '（在新窗口中打开）',
  },
  ar: {
    highlights: 'أبرز المزايا', about: 'عن هذا المنتج', documents: 'المستندات', price: 'السعر', per: '{amount} لمدة {period}',
    openedFor: 'فُتحت من {app} لـ {person}', openedFrom: 'فُتحت من {app}', newWindow: '(تُفتح في نافذة جديدة)',
  },
  de: {
    highlights: 'Das Wichtigste', about: 'Über dieses Produkt', documents: 'Dokumente', price: 'Preis', per: '{amount} pro {period}',
    openedFor: 'Geöffnet aus {app} für {person}', openedFrom: 'Geöffnet aus {app}', newWindow: '(öffnet in neuem Fenster)',
  },
};

const byId = new Map(PRODUCTS.map((p) => [p.id, p]));

export function findProduct(id: string): Product | undefined {
  return byId.get(id);
}

export function findLegalDocument(productId: string, docId: string): { product: Product; doc: LegalDocument } | undefined {
  const product = findProduct(productId);
  const doc = product?.legal.find((d) => d.id === docId);
  return product && doc ? { product, doc } : undefined;
}

/** The product API's JSON for `product`: the data, with the legal documents as links, and the provider. */
export function productApiBody(product: Product): Record<string, unknown> {
  const { legal, ...rest } = product;
  return {
    ...rest,
    provider: PROVIDER.name,
    labels: LABELS[product.lang.split('-')[0]!] ?? LABELS.en,
    image: `/h5/assets/product-${product.id}.svg`,
    legal: legal.map((d) => ({ title: d.title, href: `/h5/legal/${encodeURIComponent(product.id)}/${encodeURIComponent(d.id)}` })),
  };
}

/** An action of a product that needs the user's second factor (flows/binding). */
export interface SecondFactorAction {
  id: string;
  label: string;
}

/** The actions each product marks as needing the second factor: the demo has one. */
const SECOND_FACTOR_ACTIONS: Readonly<Record<string, readonly SecondFactorAction[]>> = {
  'city-pass': [{ id: 'transfer-pass', label: 'Transfer the pass to another person' }],
};

export function secondFactorActions(productId: string): readonly SecondFactorAction[] {
  return SECOND_FACTOR_ACTIONS[productId] ?? [];
}
