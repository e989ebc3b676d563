// The app's entry point: hash router, page chrome (navigation, account),
// focus management and the live-update loop.
//
// Routes live in the URL's fragment (#/orders/<id>), so the gateway only ever
// serves real files and a reload or a shared link opens the same view.
//
// A view is an async function (ctx) → {title, poll?, destroy?}. While the
// page is visible, poll() of the current view runs every 2 s (never two at
// once); a hidden tab does not poll and catches up as soon as it is shown.

import * as api from './api.js';
import { announce, clearAnnouncement, h, replace } from './dom.js';
import * as session from './session.js';
import { loginView, signupView } from './views-auth.js';
import { dashboardView, newOrderView } from './views-orders.js';
import { orderView } from './views-order.js';
import { usersView } from './views-admin.js';

export const POLL_MS = 2000;

const routes = [
  { re: /^\/login$/, view: loginView, public: true },
  { re: /^\/signup$/, view: signupView, public: true },
  { re: /^\/$/, view: dashboardView },
  { re: /^\/orders\/new$/, view: newOrderView },
  { re: /^\/orders\/([0-9a-f]{24})$/, view: orderView },
  { re: /^\/users$/, view: usersView, admin: true },
];

const main = document.getElementById('main');
let current = null;      // the view on screen: {title, poll, destroy}
let generation = 0;      // bumps on every navigation; stale renders drop out
let polling = false;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  return { path: path || '/', query: new URLSearchParams(query) };
}

export function navigate(hash) {
  if (location.hash === hash) render();
  else location.hash = hash;
}

function renderChrome(path) {
  const nav = document.getElementById('nav');
  const account = document.getElementById('account');
  const u = session.user();
  nav.hidden = !u;
  account.hidden = !u;
  if (!u) {
    nav.replaceChildren();
    account.replaceChildren();
    return;
  }
  const link = (href, text, active) =>
    h('a', { href, 'aria-current': active ? 'page' : null }, text);
  replace(nav, h('ul', {},
    h('li', {}, link('#/', 'Orders', path === '/' || /^\/orders\/[0-9a-f]/.test(path))),
    h('li', {}, link('#/orders/new', 'New order', path === '/orders/new')),
    session.isAdmin() ? h('li', {}, link('#/users', 'Users', path === '/users')) : null));
  replace(account,
    h('span', { class: 'who' }, h('span', { class: 'who-name' }, u.name),
      h('span', { class: `role role-${u.role}` }, u.role)),
    h('button', { type: 'button', class: 'btn btn-quiet', onclick: onLogout }, 'Log out'));
}

async function onLogout() {
  await session.logout();
  announce('You have logged out.', 'success');
  navigate('#/login');
}

function notFound() {
  replace(main, h('h1', { tabindex: '-1' }, 'Page not found'),
    h('p', {}, 'There is no such page. ', h('a', { href: '#/' }, 'Go to the dashboard'), '.'));
  return { title: 'Not found' };
}

function adminOnly() {
  replace(main, h('h1', { tabindex: '-1' }, 'Admins only'),
    h('p', {}, 'This page is for administrators. ', h('a', { href: '#/' }, 'Back to your orders'), '.'));
  return { title: 'Admins only' };
}

async function render() {
  const gen = ++generation;
  if (current && current.destroy) current.destroy();
  current = null;
  const { path, query } = parseHash();
  let route = null;
  let match = null;
  for (const r of routes) {
    match = path.match(r.re);
    if (match) { route = r; break; }
  }
  const loggedIn = Boolean(session.current());
  if (route && !route.public && !loggedIn) {
    const next = path === '/' ? '' : `?next=${encodeURIComponent(path)}`;
    location.replace(`#/login${next}`);
    return;
  }
  if (route && route.public && loggedIn) {
    location.replace('#/');
    return;
  }
  renderChrome(path);
  let view;
  try {
    if (!route) view = notFound();
    else if (route.admin && !session.isAdmin()) view = adminOnly();
    else view = await route.view({ main, params: match.slice(1), query, navigate, isCurrent: () => gen === generation });
  } catch (e) {
    if (gen !== generation) return;
    view = failed(e);
  }
  if (gen !== generation) {
    if (view && view.destroy) view.destroy();
    return;
  }
  current = view;
  document.title = `${view.title} · Comanda`;
  const heading = main.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

// A view that could not be drawn. "Try again" draws it anew; when the API
// was out of reach or unavailable for a while (no answer, 502-504: a blip,
// a service restarting), the poll does so by itself too, so a page opened
// at that moment (the order just placed) comes back without a click.
function failed(e) {
  const again = h('button', { type: 'button', class: 'btn' }, 'Try again');
  again.addEventListener('click', () => render());
  replace(main, h('h1', { tabindex: '-1' }, 'Something went wrong'),
    h('p', { role: 'alert' }, e.message || String(e)),
    e.requestId ? h('p', { class: 'hint' }, `Request id: ${e.requestId}`) : null,
    h('p', {}, again, ' ', h('a', { href: '#/' }, 'Back to the dashboard')));
  const transient = e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504;
  return { title: 'Error', poll: transient ? () => render() : undefined };
}

let pollFailing = false;

async function tick() {
  if (polling || document.visibilityState !== 'visible' || !current || !current.poll) return;
  polling = true;
  const gen = generation;
  try {
    await current.poll();
    if (pollFailing) {
      pollFailing = false;
      announce('Live updates resumed.', 'info');
    }
  } catch (e) {
    // Retried on the next tick; said once, not every 2 s.
    if (gen === generation && !pollFailing && e && e.status !== 401) {
      pollFailing = true;
      announce(`Live updates paused: ${e.message}`, 'error');
    }
  } finally {
    polling = false;
  }
}

session.onChange((state, reason) => {
  if (!state && (reason === 'expired' || reason === 'elsewhere')) {
    announce(reason === 'expired' ? 'Your session has ended. Please log in again.'
      : 'You were logged out in another tab.', 'error', { sticky: true });
    navigate('#/login');
  } else if (reason === 'user' || reason === 'sync') {
    renderChrome(parseHash().path);
  }
});

window.addEventListener('hashchange', () => { clearAnnouncementOnNav(); render(); });
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') tick(); });
setInterval(tick, POLL_MS);

// Keep success messages across one navigation (e.g. "Order placed"), drop errors.
function clearAnnouncementOnNav() {
  const flash = document.getElementById('flash');
  if (!flash) return;
  if (flash.dataset.sticky !== undefined) delete flash.dataset.sticky;
  else if (flash.classList.contains('flash-error')) clearAnnouncement();
}

// Refresh who we are (name or role may have changed) without blocking the first render.
if (session.current()) {
  api.me().then((r) => session.setUser(r.user)).catch(() => {});
}
render();
