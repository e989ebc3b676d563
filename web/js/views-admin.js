// Admin views: the users list, and the service health panel (GET /status)
// the admin dashboard shows.
import * as api from './api.js';
import { announce, h, keepFocus, nextId, pagerButton, replace } from './dom.js';
import { pill, time } from './format.js';

const PAGE_SIZE = 20;
// Newest first unless asked (#/users?order=asc): the users an admin looks
// for are most often the ones who just signed up.
const ORDERS = { desc: 'Newest first', asc: 'Oldest first' };

export async function usersView({ main, query, navigate, isCurrent }) {
  const order = query.get('order') === 'asc' ? 'asc' : 'desc';
  const cursors = [''];
  let page = 0;
  let data = null;
  let lastJson = '';
  const tableEl = h('div', { class: 'table-wrap' }, h('p', { class: 'loading' }, 'Loading users…'));
  const newer = h('button', { type: 'button', class: 'btn', disabled: true }, '‹ Previous');
  const older = h('button', { type: 'button', class: 'btn', disabled: true }, 'Next ›');
  const pageLabel = h('span', { class: 'page-label', 'aria-live': 'polite' }, 'Page 1');
  const sortId = nextId('users-order');
  const sort = h('select', { id: sortId, name: 'order' },
    Object.entries(ORDERS).map(([value, label]) => h('option', { value }, label)));
  sort.value = order;
  sort.addEventListener('change', () => navigate(sort.value === 'asc' ? '#/users?order=asc' : '#/users'));

  replace(main,
    h('h1', {}, 'Users'),
    h('section', { class: 'panel', 'aria-label': 'Users' },
      h('div', { class: 'section-head' },
        h('div', { class: 'toolbar' },
          h('div', { class: 'field field-inline' }, h('label', { for: sortId }, 'Order'), sort))),
      tableEl,
      h('nav', { class: 'pager', 'aria-label': 'User pages' }, newer, pageLabel, older)));

  async function load() {
    const r = await api.listUsers({ limit: PAGE_SIZE, cursor: cursors[page], order });
    if (!isCurrent()) return;
    data = r;
    const json = JSON.stringify(r.users);
    if (json !== lastJson) {
      lastJson = json;
      keepFocus(tableEl, () => replace(tableEl, usersTable(r.users, page + 1, order)));
    }
    newer.disabled = page === 0;
    older.disabled = !r.next_cursor;
    pageLabel.textContent = `Page ${page + 1}`;
  }
  pagerButton(newer, older, async () => { page = Math.max(0, page - 1); await load(); });
  pagerButton(older, newer, async () => {
    if (!data || !data.next_cursor) return;
    cursors[page + 1] = data.next_cursor;
    page += 1;
    await load();
  });

  await load();
  return { title: 'Users', poll: load };
}

function usersTable(users, page, order) {
  if (!users.length) return h('p', { class: 'empty' }, 'No users.');
  return h('table', { class: 'table users' },
    h('caption', { class: 'visually-hidden' }, `Users, ${ORDERS[order].toLowerCase()}, page ${page}`),
    h('thead', {}, h('tr', {},
      ['Id', 'Name', 'E-mail', 'Role', 'Status', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, users.map((u) => h('tr', { dataset: { userId: String(u.id) } },
      h('td', { 'data-label': 'Id' }, `#${u.id}`),
      h('td', { 'data-label': 'Name' }, u.name),
      h('td', { 'data-label': 'E-mail' }, h('span', { class: 'wrap' }, u.email)),
      h('td', { 'data-label': 'Role' }, h('span', { class: `role role-${u.role}` }, u.role)),
      h('td', { 'data-label': 'Status' }, pill(u.status)),
      h('td', { 'data-label': 'Created' }, time(u.created_at))))));
}

const SERVICE_NAMES = {
  'user-service': 'Users (svc-user)',
  'order-service': 'Orders (svc-order)',
  'payment-service': 'Payments (svc-payment)',
};

/** The service health panel: {el, refresh()}. */
export function healthPanel() {
  const body = h('div', { class: 'health-body' }, h('p', { class: 'loading' }, 'Checking services…'));
  const el = h('section', { class: 'panel health', 'aria-labelledby': 'health-h' },
    h('h2', { id: 'health-h' }, 'Service health'), body);
  let lastState = '';

  async function refresh() {
    let s;
    try {
      s = await api.status();
    } catch (e) {
      replace(body, h('p', {}, pill('offline'), ' The gateway did not answer: ', e.message));
      return;
    }
    const services = Object.entries(s.services || {});
    const state = JSON.stringify([s.status, s.services]);
    if (lastState && state !== lastState) {
      announce(`Service health: ${s.status}.`, s.status === 'operational' ? 'info' : 'error');
    }
    lastState = state;
    keepFocus(body, () => replace(body,
      h('p', { class: 'health-overall' }, 'API gateway: ', pill(s.status, { dataset: { status: s.status } }),
        s.version ? h('span', { class: 'hint' }, ` version ${s.version}`) : null),
      h('ul', { class: 'services' }, services.map(([name, st]) => {
        const d = s.details && s.details[name];
        return h('li', { dataset: { service: name } },
          h('span', { class: 'service-name' }, SERVICE_NAMES[name] || name), ' ',
          pill(st, { dataset: { status: st } }),
          d ? h('span', { class: 'hint service-detail' }, ` ${describe(d)}`) : null);
      })),
      h('p', { class: 'hint' }, 'Checked ', time(s.timestamp), '.')));
  }
  return { el, refresh };
}

function describe(d) {
  if (typeof d === 'string') return d;
  if (Array.isArray(d)) return d.join(', ');
  if (d && typeof d === 'object') {
    return Object.entries(d).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`).join('; ');
  }
  return String(d);
}
