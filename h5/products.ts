/** The sample products the provider's H5 pages show (the product backend's data). */
export interface Product {
  id: string;
  name: string;
  tagline: string;
  category: string;
  price: { amount: string; currency: string; period: string };
  highlights: { title: string; text: string }[];
  description: string[];
  terms: string;
  accent: string;
}

export const PRODUCTS: readonly Product[] = [
  {
    id: 'travel-insurance',
    name: 'Travel Cover Plus',
    tagline: 'Medical, baggage and cancellation cover for every trip up to 31 days.',
    category: 'Insurance',
    price: { amount: '4.90', currency: 'EUR', period: 'trip' },
    highlights: [
      { title: 'Medical up to €2M', text: 'Hospital stays, emergency transport and repatriation, paid directly to the clinic.' },
      { title: 'Cancellation €3,000', text: 'Illness, a missed connection or a strike at home: your prepaid costs come back.' },
      { title: '24/7 assistance', text: 'One number, in 14 languages, wherever you are.' },
    ],
    description: [
      'Cover starts the moment you leave home and ends when you are back, for trips of up to 31 days anywhere in the world except your country of residence.',
      'Claims are made in the app: photograph the receipt, confirm your bank account, and most claims are paid within five working days.',
    ],
    terms: 'Underwritten by Example Assurance SE. Excess €50 per claim on baggage. Pre-existing conditions are covered when stable for 6 months. Full policy wording applies.',
    accent: '#0a7c86',
  },
  {
    id: 'city-pass',
    name: 'Lisbon City Pass',
    tagline: 'Unlimited metro, trams and 30 museums for 72 hours.',
    category: 'Experiences',
    price: { amount: '49.00', currency: 'EUR', period: '72 hours' },
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
  },
  {
    id: 'savings-plus',
    name: 'Savings Plus',
    tagline: 'An instant-access savings account paying 3.10% AER.',
    category: 'Banking',
    price: { amount: '0.00', currency: 'EUR', period: 'month' },
    highlights: [
      { title: '3.10% AER variable', text: 'Interest calculated daily and paid monthly, on every euro from the first.' },
      { title: 'Instant access', text: 'Move money out at any time, with no notice and no penalty.' },
      { title: 'Protected', text: 'Deposits are protected up to €100,000 by the national deposit guarantee scheme.' },
    ],
    description: [
      'Open the account in minutes with your existing identity check; no new paperwork.',
      'Set a goal, round up card payments into it, and watch the interest add up in the app.',
    ],
    terms: 'AER stands for Annual Equivalent Rate. The rate is variable and may change with 14 days notice. Available to residents aged 18 or over.',
    accent: '#4338ca',
  },
];

const byId = new Map(PRODUCTS.map((p) => [p.id, p]));

export function findProduct(id: string): Product | undefined {
  return byId.get(id);
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
