// The dashboard (stat cards, the orders table with its filter and pages, and
// for admins the service health panel) and the new-order form.
import * as api from './api.js';
import { userNames } from './names.js';
import { announce, busy, clearFormErrors, field, formSummary, h, keepFocus, nextId, replace, setFieldError,
  pagerButton, showApiErrors } from './dom.js';
import { intLiteral, moneyLiteral, newKey, toJson } from './http.js';
import { CARD_METHODS, ORDER_STATUSES, PAYMENT_METHODS, itemsSummary, methodLabel, money, pill,
  shortId, statusLabel, time } from './format.js';
import * as session from './session.js';
import { healthPanel } from './views-admin.js';

const PAGE_SIZE = 10;
const SLOW_EVERY = 5;       // stats and health: every 5th poll (10 s) unless something changed

// ---- stats ---------------------------------------------------------------------------

/**
 * GET /api/orders/stats: the counts of every order the caller may list (the
 * database counts them, however many there are) and the value of the paid,
 * shipped and delivered ones per currency (`received`: without those whose
 * payment was refunded, which the Paid card, a count by status, includes).
 */
async function loadStats() {
  const r = await api.orderStats();
  const by = r.stats.by_status;
  return {
    total: r.stats.orders,
    paid: by.paid + by.shipped + by.delivered,
    pending: by.pending,
    failed: by.payment_failed,
    value: r.stats.received.map((c) => [c.currency, c.total]), // largest first
  };
}

function statCards(s) {
  const card = (key, label, value, note) =>
    h('div', { class: `card stat-${key}`, dataset: { stat: key } },
      h('p', { class: 'card-label' }, label),
      h('p', { class: 'card-value' }, value),
      note ? h('p', { class: 'card-note' }, note) : null);
  if (!s) {
    return ['orders', 'paid', 'pending', 'failed', 'value'].map((k) =>
      card(k, { orders: 'Orders', paid: 'Paid', pending: 'Pending', failed: 'Failed', value: 'Total value' }[k], '…'));
  }
  return [
    card('orders', 'Orders', `${s.total}`),
    card('paid', 'Paid', `${s.paid}`, 'incl. shipped and delivered'),
    card('pending', 'Pending', `${s.pending}`, 'awaiting payment'),
    card('failed', 'Failed', `${s.failed}`, 'payment failed'),
    h('div', { class: 'card stat-value', dataset: { stat: 'value' } },
      h('p', { class: 'card-label' }, 'Total value'),
      s.value.length
        ? s.value.map(([cur, total]) => h('p', { class: 'card-value card-money' }, money(total, cur)))
        : h('p', { class: 'card-value' }, '0'),
      h('p', { class: 'card-note' }, 'of paid orders, less refunds')),
  ];
}

// ---- the orders table -------------------------------------------------------------------

function ordersTable(orders, { admin, status, page, names }) {
  if (!orders.length) {
    return h('p', { class: 'empty' },
      status ? `No orders with status “${statusLabel(status)}”.` : 'No orders yet. ',
      status ? null : h('a', { href: '#/orders/new' }, 'Place your first order'), status ? null : '.');
  }
  return h('table', { class: 'table orders' },
    h('caption', { class: 'visually-hidden' },
      `Orders${status ? ` with status ${statusLabel(status)}` : ''}, newest first, page ${page}`),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Order'),
      admin ? h('th', { scope: 'col' }, 'Customer') : null,
      h('th', { scope: 'col' }, 'Items'),
      h('th', { scope: 'col', class: 'num' }, 'Total'),
      h('th', { scope: 'col' }, 'Payment'),
      h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Created'))),
    h('tbody', {}, orders.map((o) => h('tr', { dataset: { orderId: o._id } },
      h('td', { 'data-label': 'Order' },
        h('a', { href: `#/orders/${o._id}`, class: 'order-link', 'aria-label': `Order ${shortId(o._id)}`,
          dataset: { focusKey: `order-${o._id}` } }, h('code', {}, shortId(o._id)))),
      admin ? h('td', { 'data-label': 'Customer' }, names && names.has(o.user_id)
        ? [names.get(o.user_id), ' ', h('span', { class: 'hint-inline nowrap' }, `#${o.user_id}`)]
        : `User #${o.user_id}`) : null,
      h('td', { 'data-label': 'Items' }, itemsSummary(o.items)),
      h('td', { 'data-label': 'Total', class: 'num' }, money(o.total, o.currency)),
      h('td', { 'data-label': 'Payment', class: 'nowrap' }, methodLabel(o.payment_method)),
      h('td', { 'data-label': 'Status' }, pill(o.status, { dataset: { status: o.status } })),
      h('td', { 'data-label': 'Created', class: 'nowrap' }, time(o.created_at, 'short'))))));
}

export async function dashboardView({ main, query, navigate, isCurrent }) {
  const admin = session.isAdmin();
  const status = ORDER_STATUSES.includes(query.get('status')) ? query.get('status') : '';
  const cursors = [''];          // cursors[i] opens page i+1
  let page = 0;
  let data = null;
  let lastJson = '';
  let ticks = 0;

  const statsEl = h('div', { class: 'cards', 'aria-busy': 'true' }, statCards(null));
  const tableEl = h('div', { class: 'table-wrap' }, h('p', { class: 'loading' }, 'Loading orders…'));
  const newer = h('button', { type: 'button', class: 'btn', disabled: true, dataset: { focusKey: 'newer' } }, '‹ Newer');
  const older = h('button', { type: 'button', class: 'btn', disabled: true, dataset: { focusKey: 'older' } }, 'Older ›');
  const pageLabel = h('span', { class: 'page-label', 'aria-live': 'polite' }, 'Page 1');
  const filterId = nextId('status-filter');
  const filter = h('select', { id: filterId, name: 'status' },
    h('option', { value: '' }, 'All statuses'),
    ORDER_STATUSES.map((s) => h('option', { value: s }, statusLabel(s))));
  filter.value = status;
  filter.addEventListener('change', () => navigate(filter.value ? `#/?status=${filter.value}` : '#/'));
  const health = admin ? healthPanel() : null;

  replace(main,
    h('h1', {}, admin ? 'Dashboard' : 'Your orders'),
    h('section', { 'aria-labelledby': 'stats-h' },
      h('h2', { id: 'stats-h', class: 'visually-hidden' }, 'Summary'), statsEl),
    health ? health.el : null,
    h('section', { class: 'panel', 'aria-labelledby': 'orders-h' },
      h('div', { class: 'section-head' },
        h('h2', { id: 'orders-h' }, admin ? 'All orders' : 'Orders'),
        h('div', { class: 'toolbar' },
          h('div', { class: 'field field-inline' }, h('label', { for: filterId }, 'Status'), filter),
          h('a', { class: 'btn btn-primary', href: '#/orders/new' }, 'New order'))),
      tableEl,
      h('nav', { class: 'pager', 'aria-label': 'Order pages' }, newer, pageLabel, older)));

  async function loadPage({ announceChanges }) {
    const r = await api.listOrders({ limit: PAGE_SIZE, cursor: cursors[page], status });
    const names = admin ? await userNames(r.orders.map((o) => o.user_id)) : null;
    if (!isCurrent()) return false;
    const json = JSON.stringify(r.orders);
    const changed = json !== lastJson;
    if (changed && announceChanges && data) sayChanges(data.orders, r.orders);
    data = r;
    lastJson = json;
    if (changed) keepFocus(tableEl, () => replace(tableEl, ordersTable(r.orders, { admin, status, page: page + 1, names })));
    newer.disabled = page === 0;
    older.disabled = !r.next_cursor;
    pageLabel.textContent = `Page ${page + 1}`;
    return changed;
  }

  async function loadStats_() {
    const s = await loadStats();
    if (!isCurrent()) return;
    replace(statsEl, statCards(s));
    statsEl.removeAttribute('aria-busy');
  }

  pagerButton(newer, older, async () => {
    page = Math.max(0, page - 1);
    lastJson = '';
    await loadPage({ announceChanges: false });
  });
  pagerButton(older, newer, async () => {
    if (!data || !data.next_cursor) return;
    cursors[page + 1] = data.next_cursor;
    page += 1;
    lastJson = '';
    await loadPage({ announceChanges: false });
  });

  await Promise.all([loadPage({ announceChanges: false }), loadStats_(), health ? health.refresh() : null]);

  return {
    title: admin ? 'Dashboard' : 'Your orders',
    async poll() {
      ticks += 1;
      const changed = await loadPage({ announceChanges: true });
      const slow = ticks % SLOW_EVERY === 0;
      if (changed || slow) await loadStats_();
      if (health && slow) await health.refresh();
    },
  };
}

/** Announces orders of this page whose status changed since the last poll. */
function sayChanges(before, after) {
  const old = new Map(before.map((o) => [o._id, o.status]));
  const moved = after.filter((o) => old.has(o._id) && old.get(o._id) !== o.status);
  if (moved.length === 1) {
    announce(`Order ${shortId(moved[0]._id)} is now ${statusLabel(moved[0].status).toLowerCase()}.`, 'info');
  } else if (moved.length > 1) {
    announce(`${moved.length} orders changed status.`, 'info');
  }
}

// ---- the new-order form -------------------------------------------------------------------

export async function newOrderView({ main, navigate }) {
  const admin = session.isAdmin();
  const rowsEl = h('div', { class: 'item-rows' });
  const itemsError = h('p', { class: 'field-error', id: nextId('items-error') });
  const itemsAnchor = h('div', { class: 'items-anchor', tabindex: '-1', dataset: { field: 'items' },
    'aria-describedby': itemsError.id });
  itemsAnchor.id = itemsError.id.replace(/-error$/, '');
  const totalOut = h('output', { class: 'total-value', dataset: { field: 'total' } }, '—');
  const rows = [];

  const currency = field({ label: 'Currency', name: 'currency', value: 'COP', hint: 'ISO 4217 code, e.g. COP, USD, EUR.',
    attrs: { maxlength: 3, list: 'currencies', autocapitalize: 'characters', spellcheck: 'false', size: 5 } });
  const method = field({ label: 'Payment method', name: 'payment_method', options: PAYMENT_METHODS,
    value: 'credit_card' });
  const token = field({ label: 'Card token', name: 'payment_token', autocomplete: 'off',
    hint: 'The token from the payment processor, never a card number. Test tokens: tok_visa is approved, tok_decline is declined.',
    attrs: { maxlength: 128, spellcheck: 'false' } });
  const userId = admin ? field({ label: 'For customer (user id)', name: 'user_id', inputmode: 'numeric',
    hint: 'Leave empty to order for yourself.', attrs: { size: 8 } }) : null;
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Place order');
  const addBtn = h('button', { type: 'button', class: 'btn' }, '+ Add item');

  const showToken = () => { token.wrap.hidden = !CARD_METHODS.has(method.input.value); };
  method.input.addEventListener('change', showToken);
  showToken();

  function addRow(values = {}) {
    const product = field({ label: 'Product', name: 'product', required: true, attrs: { maxlength: 200 } });
    const quantity = field({ label: 'Quantity', name: 'quantity', inputmode: 'numeric', value: values.quantity || '1',
      required: true, attrs: { size: 5 } });
    const price = field({ label: 'Unit price', name: 'price', inputmode: 'decimal', required: true,
      attrs: { size: 10, placeholder: '0.00' } });
    const title = h('h3', { class: 'item-title', id: nextId('item-title') }, 'Item');
    const remove = h('button', { type: 'button', class: 'btn btn-quiet btn-small' }, 'Remove');
    const row = { product, quantity, price, title, remove,
      el: h('div', { class: 'item-row', role: 'group', 'aria-labelledby': title.id },
        title, product.wrap, quantity.wrap, price.wrap, h('div', { class: 'item-remove' }, remove)) };
    remove.addEventListener('click', () => {
      const i = rows.indexOf(row);
      rows.splice(i, 1);
      row.el.remove();
      renumber();
      (rows[Math.min(i, rows.length - 1)] || { product: { input: addBtn } }).product.input.focus();
    });
    for (const f of [quantity, price]) f.input.addEventListener('input', updateTotal);
    rows.push(row);
    rowsEl.append(row.el);
    renumber();
    return row;
  }

  function renumber() {
    rows.forEach((r, i) => {
      r.title.textContent = `Item ${i + 1}`;
      r.product.input.dataset.field = `items[${i}].product`;
      r.quantity.input.dataset.field = `items[${i}].quantity`;
      r.price.input.dataset.field = `items[${i}].price`;
      r.remove.setAttribute('aria-label', `Remove item ${i + 1}`);
      r.remove.hidden = rows.length === 1;
    });
    updateTotal();
  }

  /** Σ quantity × price in minor units, from the typed text (no floating point). */
  function updateTotal() {
    let sum = 0n;
    for (const r of rows) {
      const q = r.quantity.input.value.trim();
      const p = r.price.input.value.trim();
      const m = /^(\d+)(?:\.(\d{1,2}))?$/.exec(p);
      if (!/^\d{1,5}$/.test(q) || !m) { totalOut.textContent = '—'; return; }
      sum += BigInt(q) * (BigInt(m[1]) * 100n + BigInt((m[2] || '').padEnd(2, '0')));
    }
    const cur = currency.input.value.trim().toUpperCase();
    const major = `${sum / 100n}.${String(sum % 100n).padStart(2, '0')}`;
    totalOut.textContent = /^[A-Z]{3}$/.test(cur) ? money(major, cur) : major;
  }
  currency.input.addEventListener('input', updateTotal);

  addBtn.addEventListener('click', () => addRow().product.input.focus());
  addRow();

  const form = h('form', { class: 'panel order-form', novalidate: true, 'aria-labelledby': 'new-order-h' },
    formSummary(),
    h('fieldset', { class: 'items' },
      h('legend', {}, 'Items'),
      itemsAnchor, itemsError,
      rowsEl,
      h('div', { class: 'items-foot' }, addBtn,
        h('p', { class: 'total' }, h('span', { class: 'total-label' }, 'Total '), totalOut))),
    h('fieldset', { class: 'payment-fields' },
      h('legend', {}, 'Payment'),
      h('div', { class: 'grid-2' }, currency.wrap, method.wrap),
      token.wrap),
    userId ? userId.wrap : null,
    h('datalist', { id: 'currencies' }, ['COP', 'USD', 'EUR', 'MXN', 'BRL'].map((c) => h('option', { value: c }))),
    h('div', { class: 'actions' }, submit, h('a', { class: 'btn btn-quiet', href: '#/' }, 'Back to orders')));

  // Same content → same Idempotency-Key (a double click or a retry makes one order).
  let last = '';
  let key = '';
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFormErrors(form);
    setFieldError(itemsAnchor, null);
    const body = {
      items: rows.map((r) => ({
        product: r.product.input.value,
        quantity: intLiteral(r.quantity.input.value),
        price: moneyLiteral(r.price.input.value),
      })),
    };
    const cur = currency.input.value.trim();
    if (cur) body.currency = cur;
    body.payment_method = method.input.value;
    if (CARD_METHODS.has(method.input.value) && token.input.value.trim()) body.payment_token = token.input.value.trim();
    if (userId && userId.input.value.trim()) body.user_id = intLiteral(userId.input.value);
    const text = toJson(body);
    if (text !== last) { last = text; key = newKey(); }
    await busy(submit, async () => {
      try {
        const r = await api.createOrder(body, key);
        announce(CARD_METHODS.has(r.order.payment_method)
          ? `Order ${shortId(r.order._id)} placed; the payment is being processed.`
          : `Order ${shortId(r.order._id)} placed.`, 'success');
        navigate(`#/orders/${r.order._id}`);
      } catch (e) {
        showApiErrors(form, e);
      }
    });
  });

  replace(main,
    h('h1', { id: 'new-order-h' }, 'New order'),
    h('p', { class: 'lead' }, 'Add what you are ordering; the total is computed for you.'),
    form);
  return { title: 'New order' };
}
