// How values of the API are shown.
import { h } from './dom.js';

export const ORDER_STATUSES = ['pending', 'paid', 'payment_failed', 'cancelled', 'shipped', 'delivered'];
export const PAYMENT_METHODS = [
  ['credit_card', 'Credit card'],
  ['debit_card', 'Debit card'],
  ['cash', 'Cash'],
  ['bank_transfer', 'Bank transfer'],
];
export const CARD_METHODS = new Set(['credit_card', 'debit_card']);

const LABELS = {
  pending: 'Pending', paid: 'Paid', payment_failed: 'Payment failed', cancelled: 'Cancelled',
  shipped: 'Shipped', delivered: 'Delivered', completed: 'Completed', failed: 'Failed', refunded: 'Refunded',
  online: 'Online', degraded: 'Degraded', offline: 'Offline', operational: 'Operational',
  active: 'Active', suspended: 'Suspended', deleted: 'Deleted',
};

export const statusLabel = (s) => LABELS[s] || String(s);
export const methodLabel = (m) => (PAYMENT_METHODS.find(([v]) => v === m) || [m, String(m)])[1];

/** A status pill: the status as text (never colour alone), coloured by class. */
export function pill(status, extra = {}) {
  return h('span', { class: `pill pill-${String(status).replace(/[^a-z_]/g, '')}`, ...extra }, statusLabel(status));
}

const moneyFormats = new Map();
function moneyFormat(currency, cents) {
  const key = `${currency}/${cents}`;
  let f = moneyFormats.get(key);
  if (!f) {
    try {
      // The API's amounts have at most 2 decimals whatever the currency. Whole
      // amounts keep the currency's usual form (COP 3,660,000; USD 30.00); an
      // amount with cents always shows both digits (COP 1.50, where ICU
      // would round to whole pesos).
      const base = { style: 'currency', currency, currencyDisplay: 'code' };
      const usual = new Intl.NumberFormat(undefined, base).resolvedOptions().minimumFractionDigits;
      const min = cents ? 2 : Math.min(usual, 2);
      f = new Intl.NumberFormat(undefined, { ...base, minimumFractionDigits: min, maximumFractionDigits: 2 });
    } catch {
      f = { format: (n) => `${currency} ${Number(n).toFixed(2)}` };
    }
    moneyFormats.set(key, f);
  }
  return f;
}

/** 3660000 COP → "COP 3,660,000" in the browser's locale; 19.99 USD → "USD 19.99". */
export function money(amount, currency = 'COP') {
  const n = Number(amount);
  return moneyFormat(currency, Math.round(n * 100) % 100 !== 0).format(n);
}

/** Amount (major units, as the API writes it) → integer minor units, for sums. */
export const minor = (amount) => Math.round(Number(amount) * 100);

const dateFormats = {
  long: new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' }),
  short: new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }),
};
/** A <time> with the API's RFC 3339 value (the full one as its tooltip). */
export function time(iso, style = 'long') {
  if (!iso) return h('span', {}, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h('time', { datetime: iso }, iso);
  return h('time', { datetime: iso, title: dateFormats.long.format(d) }, dateFormats[style].format(d));
}

/** The last 8 hex digits of an order id: enough to tell orders apart on screen. */
export const shortId = (id) => `…${String(id).slice(-8)}`;

export function itemsSummary(items) {
  if (!items || !items.length) return '—';
  const first = `${items[0].product}\u00a0×\u00a0${items[0].quantity}`;
  return items.length > 1 ? `${first}, +${items.length - 1} more` : first;
}
