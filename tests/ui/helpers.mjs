// Shared pieces of the browser tests: the stack's settings, a small API
// client (for setting up data the test then looks at in the browser), the
// browser itself (Debian's chromium driven by playwright-core), and checks.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = (process.env.GATEWAY_URL || 'http://127.0.0.1:5000').replace(/\/$/, '');
export const ADMIN_EMAIL = process.env.ADMIN_EMAIL || 'admin@comanda.local';
export const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD || 'admin-change-me';
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SHOTS = process.env.UI_SCREENSHOT_DIR || path.join(REPO, 'build/ui');
mkdirSync(SHOTS, { recursive: true });

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };   // a common phone, CSS pixels

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns something truthy; throws after timeout ms. */
export async function eventually(fn, { timeout = 15000, interval = 150, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

/** One API call from the test itself: resolves {status, body, headers}. */
export async function api(method, urlPath, { body, token, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await fetch(BASE + urlPath, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: json, text, headers: res.headers };
}

export function uniqueEmail(tag) {
  return `ui-${tag}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}@example.com`;
}

/** Signs a customer up and logs it in through the API: {email, password, token, login}. */
export async function apiCustomer(tag, name = 'Test Customer') {
  const email = uniqueEmail(tag);
  const password = 'correct-horse-1';
  const made = await api('POST', '/api/users', { body: { name, email, password } });
  if (made.status !== 201) throw new Error(`sign-up: ${made.status} ${made.text}`);
  const login = await api('POST', '/api/auth/login', { body: { email, password } });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${login.text}`);
  return { email, password, token: login.body.token, user: login.body.user, login: login.body };
}

export async function apiLogin(email, password) {
  const r = await api('POST', '/api/auth/login', { body: { email, password } });
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${r.text}`);
  return r.body;
}

export async function apiOrder(token, body) {
  const r = await api('POST', '/api/orders', { token, body });
  if (r.status !== 201) throw new Error(`order: ${r.status} ${r.text}`);
  return r.body.order;
}

/** Waits until the order has one of the statuses; returns it. */
export async function apiWaitStatus(token, id, statuses, timeout = 15000) {
  const want = [].concat(statuses);
  return eventually(async () => {
    const r = await api('GET', `/api/orders/${id}`, { token });
    return r.status === 200 && want.includes(r.body.order.status) ? r.body.order : null;
  }, { timeout, what: `order ${id} to be ${want.join('/')}` });
}

/**
 * Runs SQL on svc-payment's database as the stack's PostgreSQL superuser
 * with psql, as tests/integration/lib.sh's pg_pay_admin does, for the one
 * kind of setup the API cannot make: a failure inside svc-payment (a
 * trigger that keeps a card charge from starting). Returns psql's output,
 * trimmed; throws with psql's message when it fails. Needs COMANDA_PG_PORT
 * and PAYMENT_DB_URL (scripts/stack.sh env).
 */
export function pgPaymentAdmin(sql) {
  const port = process.env.COMANDA_PG_PORT;
  const url = process.env.PAYMENT_DB_URL;
  if (!port || !url) throw new Error('COMANDA_PG_PORT and PAYMENT_DB_URL are not set (scripts/stack.sh env)');
  const db = url.slice(url.lastIndexOf('/') + 1);
  try {
    return execFileSync('psql', ['-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', port, '-U', 'postgres',
      '-d', db, '-c', sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    throw new Error(`psql: ${(e.stderr || e.message).trim()}`);
  }
}

// ---- the browser ------------------------------------------------------------------

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/**
 * A fresh context (its own storage: a separate user) with a page that
 * records console errors and uncaught exceptions in page.problems.
 */
export async function newPage(browser, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, locale: 'en-US', timezoneId: 'UTC', reducedMotion: 'reduce' });
  context.setDefaultTimeout(15000);
  const page = await context.newPage();
  page.problems = [];
  const problem = (text) => {
    page.problems.push(text);
    process.stderr.write(`[browser] ${text}\n`);   // shown at once, also when a step times out
  };
  page.on('pageerror', (e) => problem(`page error: ${e.message}`));
  page.on('console', (m) => {
    // The browser logs every non-2xx fetch as a console error; the app
    // shows those itself. Anything else at error level is a bug.
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) problem(`console: ${m.text()}`);
  });
  return page;
}

/** Logs in through the form. */
export async function uiLogin(page, email, password) {
  await page.goto(`${BASE}/#/login`);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** The session the app keeps in localStorage. */
export async function storedSession(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem('comanda.session') || 'null'));
}

/**
 * Accessibility basics of the current view: every visible form control has
 * a label (or an aria-label), every button and link has a name, there is
 * exactly one h1, and the page does not scroll sideways. Returns a list of
 * problems (empty when fine).
 */
export async function a11yProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const visible = (el) => el.offsetParent !== null || el.getClientRects().length > 0;
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !visible(el)) continue;
      const named = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name || el.id}`);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
      if (!visible(el)) continue;
      const name = (el.getAttribute('aria-label') || el.textContent || '').trim();
      if (!name && !el.querySelector('img[alt]:not([alt=""])')) out.push(`nameless ${el.tagName.toLowerCase()}`);
    }
    const h1s = document.querySelectorAll('main h1');
    if (h1s.length !== 1) out.push(`${h1s.length} h1 elements in main`);
    if (document.documentElement.scrollWidth > document.documentElement.clientWidth + 1) {
      out.push(`horizontal scroll: ${document.documentElement.scrollWidth} > ${document.documentElement.clientWidth}`);
    }
    return out;
  });
}

export function shot(page, name) {
  return page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}
