// Browser tests of the web dashboard against a live stack (GATEWAY_URL),
// run by tests/integration/test_ui.sh: node --test with playwright-core
// driving Debian's headless chromium.
//
// Each describe() is one story whose steps build on each other; once a step
// fails, the rest of its story is skipped (counted as skipped, not as more
// failures). Screenshots go to build/ui/.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, BASE, PHONE, a11yProblems, api, apiCustomer, apiLogin, apiOrder, apiWaitStatus,
  SHOTS, eventually, launch, newPage, pgPaymentAdmin, shot, sleep, storedSession, uiLogin, uniqueEmail,
} from './helpers.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { if (browser) await browser.close(); });

/** it() that is skipped once an earlier step of the same story failed. */
function story() {
  let failed = false;
  return (name, fn) => it(name, async (t) => {
    if (failed) { t.skip('an earlier step of this story failed'); return; }
    try {
      await fn(t);
    } catch (e) {
      failed = true;
      throw e;
    }
  });
}

const CARD = { payment_method: 'credit_card', payment_token: 'tok_visa' };

describe('the gateway serves the app', () => {
  it('GET / is the app, with its security headers', async () => {
    const r = await api('GET', '/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html; charset=utf-8/);
    assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
    assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(r.headers.get('cache-control'), 'no-cache');
    assert.ok(r.headers.get('etag'));
    assert.match(r.text, /<script type="module" src="\/ui\/js\/main\.js">/);
    const again = await api('GET', '/', { headers: { 'If-None-Match': r.headers.get('etag') } });
    assert.equal(again.status, 304);
  });

  it('modules are JavaScript; traversal, hidden files and unknown types are 404', async () => {
    const js = await api('GET', '/ui/js/main.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    // Paths that reach the UI routes get the plain 404 page; an encoded "/"
    // is decoded before routing, so those never match a UI route at all and
    // get the route table's JSON 404 (and fetch itself folds "%2e%2e").
    // Either way: 404, and nothing leaks. (Raw requests: tests/unit/gateway/test_static.c.)
    for (const [p, type] of [['/ui/README.md', /^text\/html/], ['/ui/.gitignore', /^text\/html/],
      ['/ui/%2e%2e/Makefile', /./], ['/ui/nothing.js', /^text\/html/],
      ['/ui/..%2f..%2fREADME.md', /^application\/json/], ['/ui/js/..%2f..%2f..%2fetc%2fpasswd', /^application\/json/]]) {
      const r = await api('GET', p);
      assert.equal(r.status, 404, p);
      assert.match(r.headers.get('content-type'), type, p);
      assert.doesNotMatch(r.text, /Comanda is an online|root:x:0|^\/build\//m, p);
    }
    const apiMiss = await api('GET', '/api/nothing-here');
    assert.equal(apiMiss.status, 404);
    assert.equal(apiMiss.body.code, 'NOT_FOUND');
  });
});

describe('a customer: sign up, log in, order, pay, cancel, refund, log out', () => {
  const step = story();
  let page;
  const email = uniqueEmail('cust');
  const password = 'correct-horse-1';
  let orderId;
  let refreshBeforeLogout;

  before(async () => { page = await newPage(browser); });
  after(async () => { if (page) await page.context().close(); });

  step('a visitor is sent to the login form', async () => {
    await page.goto(`${BASE}/`);
    await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
    assert.match(page.url(), /#\/login$/);
    assert.deepEqual(await a11yProblems(page), []);
  });

  step('sign up: the API\'s message appears next to the field, then the account is made', async () => {
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
    assert.deepEqual(await a11yProblems(page), []);
    await page.getByLabel('Name').fill('Ana Tester');
    await page.getByLabel('E-mail').fill(email);
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    const pw = page.getByLabel('Password');
    await eventually(async () => (await pw.getAttribute('aria-invalid')) === 'true', { what: 'password marked invalid' });
    const describedBy = await pw.getAttribute('aria-describedby');
    const errorText = await page.locator(`[id="${describedBy.split(' ').pop()}"]`).textContent();
    assert.match(errorText, /at least 8 characters/);
    assert.ok(await pw.evaluate((el) => el === document.activeElement), 'focus moves to the field at fault');
    await pw.fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
    assert.equal(await page.getByLabel('E-mail').inputValue(), email);
    await page.getByText('Your account is ready').waitFor();
  });

  step('log in with the keyboard only', async () => {
    await page.getByLabel('Password').focus();
    await page.keyboard.type(password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
    await page.getByText('Welcome, Ana Tester.').waitFor();
    const s = await storedSession(page);
    assert.equal(s.user.email, email);
    assert.equal(s.user.role, 'customer');
    // the table loads after the heading: wait for it, do not sample it
    await page.getByText('No orders yet').waitFor();
    assert.deepEqual(await a11yProblems(page), []);
  });

  step('the order form puts the API\'s validation messages next to the right inputs', async () => {
    await page.getByRole('link', { name: 'New order' }).first().click();
    await page.getByRole('heading', { level: 1, name: 'New order' }).waitFor();
    const item1 = page.getByRole('group', { name: 'Item 1' });
    await item1.getByLabel('Product').fill('Book');
    await item1.getByLabel('Quantity').fill('0');
    await item1.getByLabel('Unit price').fill('19.99');
    await page.getByRole('button', { name: '+ Add item' }).click();
    const item2 = page.getByRole('group', { name: 'Item 2' });
    await item2.getByLabel('Product').fill('Bookmark');
    await item2.getByLabel('Quantity').fill('3');
    await item2.getByLabel('Unit price').fill('1.001');
    assert.deepEqual(await a11yProblems(page), []);
    await page.getByRole('button', { name: 'Place order' }).click();

    // The gateway reads amounts itself (strict money parsing), svc-order judges
    // the ranges after it: so items[1].price is reported first, then items[0].quantity.
    const p2 = item2.getByLabel('Unit price');
    await eventually(async () => (await p2.getAttribute('aria-invalid')) === 'true', { what: 'items[1].price flagged' });
    assert.match((await item2.locator('.field-error').allTextContents()).join(' '), /at most 2 decimals/);
    assert.ok(await p2.evaluate((el) => el === document.activeElement), 'focus moves to the field at fault');
    await page.getByRole('alert').filter({ hasText: 'items[1].price' }).waitFor();
    await p2.fill('1.50');
    assert.equal(await p2.getAttribute('aria-invalid'), null, 'typing clears the error');

    await page.getByRole('button', { name: 'Place order' }).click();
    const q1 = item1.getByLabel('Quantity');
    await eventually(async () => (await q1.getAttribute('aria-invalid')) === 'true', { what: 'items[0].quantity flagged' });
    assert.match((await item1.locator('.field-error').allTextContents()).join(' '), /integer between 1 and 10000/);
    assert.equal(await p2.getAttribute('aria-invalid'), null);
    await shot(page, 'order-form-errors.png');
    await q1.fill('2');
    assert.match(await page.locator('output.total-value').textContent(), /44\.48/);
  });

  step('a card order turns paid by itself', async () => {
    await page.getByLabel('Payment method').selectOption('credit_card');
    await page.getByLabel('Card token').fill('tok_visa');
    await page.getByRole('button', { name: 'Place order' }).click();
    await page.waitForURL(/#\/orders\/[0-9a-f]{24}$/);
    orderId = page.url().split('/').pop();
    await page.locator('#order-status[data-status="paid"]').waitFor({ timeout: 15000 });
    await page.locator('.payment-status[data-status="completed"]').waitFor();
    assert.match(await page.locator('.timeline').textContent(), /payment completed/);
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'order-paid.png');
  });

  step('cancelling the paid order refunds its payment', async () => {
    await page.getByRole('button', { name: 'Cancel order' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel this order?' });
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /will be refunded/);
    await dialog.getByLabel('Reason (optional)').fill('changed my mind');
    await dialog.getByRole('button', { name: 'Yes, cancel order' }).click();
    await page.locator('#order-status[data-status="cancelled"]').waitFor();
    await page.locator('.payment-status[data-status="refunded"]').waitFor({ timeout: 15000 });
    assert.match(await page.locator('.timeline').textContent(), /changed my mind/);
    // the order's refunded_at, once svc-order has the refund's event
    await page.locator('.notice-refund').waitFor({ timeout: 15000 });
    assert.match(await page.locator('.notice-refund').textContent(), /^Payment refunded /);
  });

  step('the dashboard shows it under its status, with counts', async () => {
    await page.getByRole('link', { name: '‹ All orders' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
    await page.locator(`tr[data-order-id="${orderId}"] [data-status="cancelled"]`).waitFor();
    await page.getByLabel('Status').selectOption('paid');
    await page.getByText('No orders with status “Paid”.').waitFor();
    await page.getByLabel('Status').selectOption('cancelled');
    await page.locator(`tr[data-order-id="${orderId}"]`).waitFor();
    assert.match(page.url(), /#\/\?status=cancelled$/);
    await page.getByLabel('Status').selectOption('');
    await eventually(async () => (await page.locator('[data-stat="orders"] .card-value').textContent()) === '1',
      { what: 'the orders card to say 1' });
  });

  step('orders move live: one made elsewhere appears and turns paid without a reload', async () => {
    const login = await apiLogin(email, password);
    const o = await apiOrder(login.token, { items: [{ product: 'Lamp', quantity: 1, price: 30 }], ...CARD });
    const row = page.locator(`tr[data-order-id="${o._id}"]`);
    await row.waitFor({ timeout: 10000 });
    await row.locator('[data-status="paid"]').waitFor({ timeout: 15000 });
    await eventually(async () => (await page.locator('[data-stat="paid"] .card-value').textContent()) === '1',
      { what: 'the paid card to say 1', timeout: 20000 });
    await api('POST', '/api/auth/logout', { token: login.token });
  });

  step('paging follows next_cursor', async () => {
    const login = await apiLogin(email, password);
    for (let i = 0; i < 10; i++) {
      await apiOrder(login.token, { items: [{ product: `Pencil ${i}`, quantity: 1, price: 1 }], payment_method: 'cash' });
    }
    await api('POST', '/api/auth/logout', { token: login.token });
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
    const older = page.getByRole('button', { name: 'Older ›' });
    await eventually(() => older.isEnabled(), { what: 'Older enabled' });
    const first = await page.locator('tbody tr').first().getAttribute('data-order-id');
    await older.click();
    await page.getByText('Page 2', { exact: true }).waitFor();
    await page.locator(`tr[data-order-id="${orderId}"]`).waitFor();   // the oldest order is on page 2
    assert.equal(await older.isDisabled(), true);
    await page.getByRole('button', { name: '‹ Newer' }).click();
    await page.getByText('Page 1', { exact: true }).waitFor();
    await page.locator(`tr[data-order-id="${first}"]`).waitFor();
  });

  step('an access token the API refuses is refreshed once and the request retried', async () => {
    const before = await storedSession(page);
    const refused = [];
    page.on('response', (r) => { if (r.status() === 401) refused.push(r.url()); });
    await page.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('comanda.session'));
      s.token = 'not-a-valid-token';
      localStorage.setItem('comanda.session', JSON.stringify(s));
    });
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
    await page.locator('tbody tr').first().waitFor();
    const after = await eventually(async () => {
      const s = await storedSession(page);
      return s && s.refresh_token !== before.refresh_token ? s : null;
    }, { what: 'a rotated refresh token' });
    assert.notEqual(after.token, 'not-a-valid-token');
    assert.ok(refused.length >= 1, 'the refused token was answered 401');
    // The presented refresh token is spent. Sent again at once, while the
    // page has not used its successor, it is a retry (an answer lost to a
    // 504 looks just so): the page's own refresh token again, nothing revoked.
    const retry = await api('POST', '/api/auth/refresh', { body: { refresh_token: before.refresh_token } });
    assert.equal(retry.status, 200);
    assert.equal(retry.body.refresh_token, after.refresh_token);
    // Once that successor has been used, the spent token is theft.
    const used = await api('POST', '/api/auth/refresh', { body: { refresh_token: after.refresh_token } });
    assert.equal(used.status, 200);
    const old = await api('POST', '/api/auth/refresh', { body: { refresh_token: before.refresh_token } });
    assert.equal(old.status, 401);
  });

  step('a refused refresh ends the session: back to the login form, with a message', async () => {
    // The previous step presented a spent refresh token, whose successor had
    // been used, on purpose: the API took it as theft and revoked the whole
    // session, the page's newest refresh token included. With the access
    // token refused too, the app must give up cleanly.
    await page.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('comanda.session'));
      s.token = 'not-a-valid-token';
      localStorage.setItem('comanda.session', JSON.stringify(s));
    });
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
    await page.getByText('Your session has ended. Please log in again.').waitFor();
    assert.equal(await storedSession(page), null);
  });

  step('a timed refresh that got no answer (504) is tried again in an idle view', async () => {
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await uiLogin(page, email, password);
    await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
    await page.goto(`${BASE}/#/orders/new`);
    await page.getByRole('heading', { level: 1, name: 'New order' }).waitFor();
    const before = await storedSession(page);
    // Every refresh of the next 4 s gets a 504 without reaching the server:
    // the one due shortly before expiry, and any before a request.
    let failUntil = 0;
    const attempts = [];
    await page.route('**/api/auth/refresh', async (route) => {
      attempts.push(Date.now());
      if (Date.now() < failUntil) {
        await route.fulfill({ status: 504, contentType: 'application/json',
          body: JSON.stringify({ success: false, error: 'Gateway timeout', code: 'DEADLINE_EXCEEDED' }) });
        return;
      }
      await route.continue();
    });
    try {
      await page.evaluate(() => {
        const s = JSON.parse(localStorage.getItem('comanda.session'));
        s.expires_at = Date.now() + 3000;
        localStorage.setItem('comanda.session', JSON.stringify(s));
      });
      failUntil = Date.now() + 4000;
      await page.reload();   // the new-order form: nothing polls, the user is typing
      await page.getByRole('heading', { level: 1, name: 'New order' }).waitFor();
      // before: no attempt after the timed one failed, until the next request
      await eventually(async () => {
        const s = await storedSession(page);
        return s && s.refresh_token !== before.refresh_token && s.expires_at > Date.now() + 60000;
      }, { timeout: 20000, what: 'a session refreshed by a retry' });
      assert.ok(attempts.length >= 2, `refresh attempts: ${attempts.length}`);
    } finally {
      await page.unroute('**/api/auth/refresh');
    }
  });

  step('an access token about to expire is refreshed before it is used', async () => {
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await uiLogin(page, email, password);
    const before = await storedSession(page);
    const refused = [];
    page.on('response', (r) => { if (r.status() === 401) refused.push(r.url()); });
    await page.evaluate(() => {
      const s = JSON.parse(localStorage.getItem('comanda.session'));
      s.expires_at = Date.now() + 3000;
      localStorage.setItem('comanda.session', JSON.stringify(s));
    });
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
    await eventually(async () => {
      const s = await storedSession(page);
      return s && s.refresh_token !== before.refresh_token && s.expires_at > Date.now() + 60000;
    }, { what: 'a refreshed session' });
    assert.deepEqual(refused, [], 'no request was refused');
    refreshBeforeLogout = (await storedSession(page)).refresh_token;
  });

  step('a customer does not get the admin pages', async () => {
    await page.goto(`${BASE}/#/users`);
    await page.getByRole('heading', { level: 1, name: 'Admins only' }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Users' }).count(), 0);
  });

  step('phone width: the dashboard fits, screenshot', async () => {
    const phone = await newPage(browser, PHONE);
    try {
      await uiLogin(phone, email, password);
      await phone.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
      await phone.locator('tbody tr').first().waitFor();
      await phone.locator('.cards:not([aria-busy])').waitFor();
      await phone.evaluate(() => { document.getElementById('flash').replaceChildren(); });
      assert.deepEqual(await a11yProblems(phone), []);
      await phone.screenshot({ path: `${SHOTS}/dashboard-phone.png` });   // what the screen shows
      await shot(phone, 'dashboard-phone-full.png');
      await phone.getByRole('link', { name: 'New order' }).first().click();
      await phone.getByRole('heading', { level: 1, name: 'New order' }).waitFor();
      assert.deepEqual(await a11yProblems(phone), []);
      await shot(phone, 'order-form-phone.png');
      assert.deepEqual(phone.problems, []);
    } finally {
      await phone.context().close();
    }
  });

  step('log out ends the session on the server too', async () => {
    await page.goto(`${BASE}/#/`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
    await page.getByText('You have logged out.').waitFor();
    assert.equal(await storedSession(page), null);
    const r = await api('POST', '/api/auth/refresh', { body: { refresh_token: refreshBeforeLogout } });
    assert.equal(r.status, 401);
    await page.goto(`${BASE}/#/orders/new`);
    await page.getByRole('heading', { level: 1, name: 'Log in' }).waitFor();
    assert.deepEqual(page.problems, []);
  });
});

describe('an admin: health, users, shipping, cash and failed payments', () => {
  const step = story();
  let page;
  let customer;
  let paidOrder;
  let cashOrder;
  let declined;

  before(async () => {
    customer = await apiCustomer('shop', 'Bo Buyer');
    paidOrder = await apiOrder(customer.token, {
      items: [{ product: 'Laptop Dell Inspiron', quantity: 1, price: 3500000 }, { product: 'Mouse Logitech', quantity: 2, price: 80000 }],
      ...CARD,
    });
    cashOrder = await apiOrder(customer.token, { items: [{ product: 'Coffee beans', quantity: 3, price: 42000 }], payment_method: 'cash' });
    declined = await apiOrder(customer.token, {
      items: [{ product: 'Headphones', quantity: 1, price: 250000 }], payment_method: 'credit_card', payment_token: 'tok_decline_insufficient',
    });
    await apiOrder(customer.token, { items: [{ product: 'Notebook', quantity: 5, price: 12.5 }], currency: 'USD', ...CARD });
    await apiWaitStatus(customer.token, paidOrder._id, 'paid');
    await apiWaitStatus(customer.token, declined._id, 'payment_failed');
    page = await newPage(browser);
  });
  after(async () => { if (page) await page.context().close(); });

  step('the admin dashboard shows every order, the stat cards and the service health', async () => {
    await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    for (const svc of ['user-service', 'order-service', 'payment-service']) {
      await page.locator(`[data-service="${svc}"] [data-status="online"]`).waitFor();
    }
    await page.locator('.health-overall [data-status="operational"]').waitFor();
    await page.locator(`tr[data-order-id="${paidOrder._id}"]`).waitFor();
    assert.match(await page.locator(`tr[data-order-id="${paidOrder._id}"]`).textContent(), new RegExp(`Bo Buyer #${customer.user.id}`));
    // the cards come from GET /api/orders/stats: every order of the system,
    // however many other suites made (no order is placed meanwhile)
    await page.locator('.cards:not([aria-busy])').waitFor();
    assert.match(await page.locator('[data-stat="value"]').textContent(), /COP/);
    const admin = await apiLogin(ADMIN_EMAIL, ADMIN_PASSWORD);
    const stats = (await api('GET', '/api/orders/stats', { token: admin.token })).body.stats;
    await eventually(async () => (await page.locator('[data-stat="orders"] .card-value').textContent()) === String(stats.orders),
      { what: `the Orders card showing ${stats.orders}` });
    assert.deepEqual(await a11yProblems(page), []);
  });

  step('users list: newest first, and oldest first on request', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    // newest first: the customer made for this story is on the first page,
    // whatever number of users other tests left on the stack
    await page.locator(`tr[data-user-id="${customer.user.id}"]`).filter({ hasText: customer.email }).waitFor();
    const ids = await page.locator('tr[data-user-id]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.userId)));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
    assert.deepEqual(await a11yProblems(page), []);
    // oldest first: the first admin (the stack's ADMIN_EMAIL) leads the first page
    await page.getByLabel('Order').selectOption('asc');
    await page.locator('tr[data-user-id]').first().filter({ hasText: ADMIN_EMAIL }).filter({ hasText: 'admin' }).waitFor();
    const asc = await page.locator('tr[data-user-id]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.userId)));
    assert.deepEqual(asc, [...asc].sort((a, b) => a - b));
    assert.match(page.url(), /#\/users\?order=asc$/);
  });

  step('ships a paid order, then marks it delivered', async () => {
    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    await page.getByLabel('Status').selectOption('paid');
    await page.locator(`tr[data-order-id="${paidOrder._id}"] a`).click();
    await page.locator('#order-status[data-status="paid"]').waitFor();
    assert.equal((await page.locator('dd.customer').textContent()).trim(), `Bo Buyer #${customer.user.id}`);
    assert.deepEqual(await a11yProblems(page), []);
    await page.getByRole('button', { name: 'Mark as shipped' }).click();
    await page.locator('#order-status[data-status="shipped"]').waitFor();
    await page.getByText('Order marked as shipped.').waitFor();
    const shipped = await api('GET', `/api/orders/${paidOrder._id}`, { token: customer.token });
    assert.equal(shipped.body.order.status, 'shipped');
    await page.getByRole('button', { name: 'Mark as delivered' }).click();
    await page.locator('#order-status[data-status="delivered"]').waitFor();
    assert.equal(await page.getByRole('button', { name: 'Cancel order' }).count(), 0);
  });

  step('completes a cash payment, and the order turns paid', async () => {
    await page.goto(`${BASE}/#/orders/${cashOrder._id}`);
    await page.locator('#order-status[data-status="pending"]').waitFor();
    await page.locator('.payment-status[data-status="pending"]').waitFor({ timeout: 15000 });
    await page.getByRole('button', { name: 'Complete payment' }).click();
    await page.locator('.payment-status[data-status="completed"]').waitFor();
    await page.locator('#order-status[data-status="paid"]').waitFor({ timeout: 15000 });
  });

  step('a declined order shows why, and paying again settles it', async () => {
    await page.goto(`${BASE}/#/orders/${declined._id}`);
    await page.locator('#order-status[data-status="payment_failed"]').waitFor();
    await page.getByText(/Payment failed: /).first().waitFor();
    const form = page.locator('form.pay-again');
    await form.getByLabel('Card token').fill('tok_visa');
    await form.getByRole('button', { name: /^Pay / }).click();
    await page.locator('#order-status[data-status="paid"]').waitFor({ timeout: 15000 });
    assert.equal(await page.locator('.payment-status').count(), 2);
  });

  step('desktop screenshot of the dashboard', async () => {
    await page.goto(`${BASE}/#/`);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.locator('.health-overall [data-status]').waitFor();
    await page.locator('tbody tr').first().waitFor();
    await page.locator('.cards:not([aria-busy])').waitFor();
    await page.evaluate(() => { document.getElementById('flash').replaceChildren(); });
    await page.mouse.move(0, 0);
    await shot(page, 'dashboard-desktop.png');
    assert.deepEqual(page.problems, []);
  });
});

describe('paying again: one Idempotency-Key per attempt, across re-renders', () => {
  const step = story();
  let page;
  let customer;
  let order;
  const posts = [];      // each POST /api/payments the page sent: {key, body}
  let loseAnswers = 0;   // how many of the next answers to drop after the server made them

  before(async () => {
    customer = await apiCustomer('payagain', 'Pat Again');
    order = await apiOrder(customer.token, {
      items: [{ product: 'Desk lamp', quantity: 1, price: 99000 }], payment_method: 'credit_card', payment_token: 'tok_decline',
    });
    await apiWaitStatus(customer.token, order._id, 'payment_failed');
    page = await newPage(browser);
    // What reaches the server is watched on the wire: the app exposes nothing
    // for the test. A lost answer: the request goes through and the server
    // acts on it, but its answer never reaches the page (a dropped connection).
    await page.route((url) => url.pathname === '/api/payments', async (route) => {
      const req = route.request();
      if (req.method() !== 'POST') { await route.fallback(); return; }
      posts.push({ key: req.headers()['idempotency-key'], body: req.postData() });
      if (loseAnswers > 0) {
        loseAnswers--;
        await route.fetch();
        await route.abort('connectionreset');
        return;
      }
      await route.fallback();
    });
  });
  after(async () => { if (page) await page.context().close(); });

  const payments = async () =>
    (await api('GET', `/api/payments?order_id=${order._id}&limit=50`, { token: customer.token })).body.payments;
  const isPost = (r) => new URL(r.url()).pathname === '/api/payments' && r.request().method() === 'POST';
  // Types the card token into the "pay again" form on screen and submits it,
  // in one go: the 2 s poll may draw the page anew at any moment while the
  // events of the last payment arrive, and a new form starts empty. Once
  // the form is idle: a submit while the last one is still busy is ignored.
  const payAgain = async (tokenText) => {
    await page.locator('form.pay-again button[type="submit"]:not([aria-busy="true"])').waitFor();
    await page.evaluate((t) => {
      const form = document.querySelector('form.pay-again');
      form.querySelector('input[name="payment_token"]').value = t;
      form.requestSubmit();
    }, tokenText);
  };

  step('a submit whose answer is lost and the one after a re-render make one payment, with one key', async () => {
    await uiLogin(page, customer.email, customer.password);
    await page.goto(`${BASE}/#/orders/${order._id}`);
    await page.locator('#order-status[data-status="payment_failed"]').waitFor();
    await page.locator('form.pay-again').waitFor();
    const first = await page.locator('form.pay-again').elementHandle();
    const shown = await page.locator('.payment').count();
    loseAnswers = 1;
    await payAgain('tok_decline');
    await page.locator('form.pay-again .form-summary').getByText(/Cannot reach the server/).waitFor();
    // the server made the (declined) payment: the poll shows it and draws
    // the page again, with a new form
    await page.locator('.payment').nth(shown).waitFor({ timeout: 15000 });
    await eventually(async () => !(await first.evaluate((f) => f.isConnected)), { what: 'the form drawn anew' });
    const made = (await payments()).length;
    assert.equal(made, shown + 1);
    // the user sends it again, the same
    const replay = page.waitForResponse(isPost);
    await payAgain('tok_decline');
    const r = await replay;
    assert.equal(r.status(), 201);
    assert.equal(posts.length, 2);
    assert.equal(posts[1].body, posts[0].body);
    assert.ok(posts[0].key, 'the first submit sent an Idempotency-Key');
    assert.equal(posts[1].key, posts[0].key, 'the submit after the re-render sent the same key');
    assert.equal(r.headers()['idempotent-replayed'], 'true');
    assert.equal((await payments()).length, made, 'no second payment');
  });

  step('once an answer came, the next submit is a new attempt with a new key, also with the same content', async () => {
    const before = (await payments()).length;
    // the same card again: declined again, as a new payment, not the replay
    const again = page.waitForResponse(isPost);
    await payAgain('tok_decline');
    const r = await again;
    assert.equal(r.status(), 201);
    assert.equal(r.headers()['idempotent-replayed'], undefined);
    assert.equal(posts.length, 3);
    assert.equal(posts[2].body, posts[0].body);
    assert.notEqual(posts[2].key, posts[0].key);
    assert.equal((await payments()).length, before + 1);
    // and another card settles it
    await page.locator('.payment').nth(before).waitFor({ timeout: 15000 });
    const paid = page.waitForResponse(isPost);
    await payAgain('tok_visa');
    assert.equal((await paid).status(), 201);
    await page.locator('#order-status[data-status="paid"]').waitFor({ timeout: 15000 });
    assert.equal(posts.length, 4);
    assert.ok(posts[3].key && !posts.slice(0, 3).some((p) => p.key === posts[3].key));
    assert.equal((await payments()).length, before + 2);
    assert.deepEqual(page.problems, []);
  });
});

describe('paying again: what was chosen and typed survives a re-render', () => {
  const step = story();
  let page;
  let customer;
  let admin;
  let order;

  before(async () => {
    customer = await apiCustomer('draft', 'Dee Draft');
    admin = await apiLogin(ADMIN_EMAIL, ADMIN_PASSWORD);
    order = await apiOrder(customer.token, {
      items: [{ product: 'Reading glasses', quantity: 1, price: 45000 }], payment_method: 'credit_card', payment_token: 'tok_decline',
    });
    await apiWaitStatus(customer.token, order._id, 'payment_failed');
    page = await newPage(browser);
  });
  after(async () => {
    if (page) await page.context().close();
    if (admin) await api('POST', '/api/auth/logout', { token: admin.token });
  });

  // What the poll must see: a declined payment an admin makes for the
  // order through the API. The order stays payment_failed with no live
  // payment, so the page draws its payments and the "pay again" form anew.
  const adminDeclined = async () => {
    const r = await api('POST', '/api/payments', {
      token: admin.token,
      body: { order_id: order._id, amount: order.total, payment_method: 'credit_card', payment_token: 'tok_decline' },
    });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.payment.status, 'failed');
  };
  const form = () => page.locator('form.pay-again');

  step('a method chosen and a token typed, not sent, are still there after the poll draws the form anew', async () => {
    await uiLogin(page, customer.email, customer.password);
    await page.goto(`${BASE}/#/orders/${order._id}`);
    await page.locator('#order-status[data-status="payment_failed"]').waitFor();
    await form().waitFor();
    const shown = await page.locator('.payment').count();
    const first = await form().elementHandle();
    await form().getByLabel('Payment method').selectOption('debit_card');
    await form().getByLabel('Card token').fill('tok_visa_typed');
    await adminDeclined();
    await page.locator('.payment').nth(shown).waitFor({ timeout: 15000 });
    await eventually(async () => !(await first.evaluate((f) => f.isConnected)), { what: 'the form drawn anew' });
    assert.equal(await form().getByLabel('Payment method').inputValue(), 'debit_card');
    assert.equal(await form().getByLabel('Card token').inputValue(), 'tok_visa_typed');
    assert.ok(await form().getByLabel('Card token').isVisible(), 'a card method shows the token field');
    // the focus and the caret stayed in the field: typing goes on at its end
    assert.ok(await form().getByLabel('Card token').evaluate((el) => el === document.activeElement), 'the token field keeps the focus');
    await page.keyboard.type('_more');
    assert.equal(await form().getByLabel('Card token').inputValue(), 'tok_visa_typed_more');
  });

  step('it survives another re-render, and navigating away and back', async () => {
    const shown = await page.locator('.payment').count();
    const before = await form().elementHandle();
    await adminDeclined();
    await page.locator('.payment').nth(shown).waitFor({ timeout: 15000 });
    await eventually(async () => !(await before.evaluate((f) => f.isConnected)), { what: 'the form drawn anew' });
    assert.equal(await form().getByLabel('Card token').inputValue(), 'tok_visa_typed_more');
    await page.getByRole('link', { name: '‹ All orders' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your orders' }).waitFor();
    await page.goBack();
    await form().waitFor();
    assert.equal(await form().getByLabel('Payment method').inputValue(), 'debit_card');
    assert.equal(await form().getByLabel('Card token').inputValue(), 'tok_visa_typed_more');
  });

  step('a submit that makes a payment ends the draft: after a declined card the form starts afresh', async () => {
    const shown = await page.locator('.payment').count();
    await form().getByLabel('Card token').fill('tok_decline_again');
    await form().getByRole('button', { name: /^Pay / }).click();
    await page.getByText('The payment failed: card declined').waitFor();
    await page.locator('.payment').nth(shown).waitFor({ timeout: 15000 });
    await eventually(async () => (await form().getByLabel('Card token').inputValue()) === '', { what: 'an empty token field' });
    assert.equal(await form().getByLabel('Payment method').inputValue(), 'credit_card', 'the order\'s own method again');
    await form().getByLabel('Card token').fill('tok_visa');
    await form().getByRole('button', { name: /^Pay / }).click();
    await page.locator('#order-status[data-status="paid"]').waitFor({ timeout: 15000 });
    assert.equal(await form().count(), 0);
    assert.deepEqual(page.problems, []);
  });
});

describe('an admin refunds payments: through the processor, or recorded by hand when it holds no charge', () => {
  const step = story();
  let page;        // the admin's
  let theirs;      // the customer's, open on the same orders
  let customer;
  let admin;
  let charged;     // a card order the processor charged: paid
  let uncharged;   // a card order whose charge never started, completed by the admin
  let unchargedPay;
  // A card token of this run only, and a trigger that refuses the write
  // that starts its charge (what the API cannot make: svc-payment failing
  // that write), as test_payment_cancel_dead_letter.sh does: the payment
  // stays pending with no charge at the processor, for the admin to
  // complete by hand.
  const run = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  const noChargeToken = `tok_visa_nocharge_${run}`;
  const trigger = `ui_test_no_charge_${run}`;
  const dropTrigger = () => pgPaymentAdmin(`DROP TRIGGER IF EXISTS ${trigger} ON payments; DROP FUNCTION IF EXISTS ${trigger}()`);

  before(async () => {
    customer = await apiCustomer('refund', 'Rae Refund');
    admin = await apiLogin(ADMIN_EMAIL, ADMIN_PASSWORD);
    charged = await apiOrder(customer.token, { items: [{ product: 'Espresso machine', quantity: 1, price: 320000 }], ...CARD });
    await apiWaitStatus(customer.token, charged._id, 'paid');
    page = await newPage(browser);
    theirs = await newPage(browser);
  });
  after(async () => {
    if (page) await page.context().close();
    if (theirs) await theirs.context().close();
    try { dropTrigger(); } catch (e) { process.stderr.write(`cleanup: ${e.message}\n`); }
    if (admin) await api('POST', '/api/auth/logout', { token: admin.token });
  });

  const paymentsOf = async (orderId) =>
    (await api('GET', `/api/payments?order_id=${orderId}&limit=50`, { token: admin.token })).body.payments;
  const orderOf = async (orderId) => (await api('GET', `/api/orders/${orderId}`, { token: admin.token })).body.order;
  const refundButtons = (p) => p.getByRole('button', { name: /refund/i });
  const focusKey = (p) => p.evaluate(() => document.activeElement && document.activeElement.dataset.focusKey);

  step('a customer\'s paid order shows its completed payment with no refund button; the admin\'s has one', async () => {
    await uiLogin(theirs, customer.email, customer.password);
    await theirs.goto(`${BASE}/#/orders/${charged._id}`);
    await theirs.locator('#order-status[data-status="paid"]').waitFor();
    await theirs.locator('.payment-status[data-status="completed"]').waitFor();
    assert.equal(await refundButtons(theirs).count(), 0, 'a customer gets no refund button');
    await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.goto(`${BASE}/#/orders/${charged._id}`);
    await page.locator('.payment-status[data-status="completed"]').waitFor();
    await page.getByRole('button', { name: 'Refund payment' }).waitFor();
    assert.equal(await refundButtons(page).count(), 1);
  });

  step('the refund dialog says what will happen; Esc closes it, the focus goes back, nothing is refunded', async () => {
    const [p] = await paymentsOf(charged._id);
    await page.getByRole('button', { name: 'Refund payment' }).click();
    const dialog = page.getByRole('dialog', { name: 'Refund this payment?' });
    await dialog.waitFor();
    assert.match(await dialog.textContent(), /goes back to the customer's card through the card processor\. The order is cancelled/);
    assert.ok(await dialog.getByRole('button', { name: 'Keep payment' }).evaluate((el) => el === document.activeElement),
      'the choice that changes nothing has the focus');
    assert.deepEqual(await a11yProblems(page), []);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    // (the dialog's close event, which moves the focus, comes a task later)
    await eventually(async () => (await focusKey(page)) === `refund-${p.id}`, { what: 'the focus back on the refund button' });
    assert.equal((await paymentsOf(charged._id))[0].status, 'completed');
  });

  step('refunds a card payment: the order becomes cancelled and shows "Payment refunded"', async () => {
    const [p] = await paymentsOf(charged._id);
    await page.getByRole('button', { name: 'Refund payment' }).click();
    const dialog = page.getByRole('dialog', { name: 'Refund this payment?' });
    await dialog.getByRole('button', { name: 'Yes, refund payment' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText(`Payment #${p.id} refunded.`).waitFor();
    await page.locator('.payment-status[data-status="refunded"]').waitFor();
    await page.locator('#order-status[data-status="cancelled"]').waitFor({ timeout: 15000 });
    await page.locator('.notice-refund').waitFor({ timeout: 15000 });
    assert.match(await page.locator('.notice-refund').textContent(), /^Payment refunded .*\.$/);
    assert.match(await page.locator('.timeline').textContent(), /payment refunded/);
    assert.equal(await refundButtons(page).count(), 0, 'a refunded payment has no refund button');
    assert.equal((await paymentsOf(charged._id))[0].status, 'refunded');
    // the customer's page follows by itself
    await theirs.locator('#order-status[data-status="cancelled"]').waitFor({ timeout: 15000 });
    await theirs.locator('.notice-refund').waitFor({ timeout: 15000 });
  });

  step('a card payment the processor never charged, completed by the admin on the page', async () => {
    pgPaymentAdmin(`
      CREATE FUNCTION ${trigger}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'ui test: no charge of this payment starts'; END $$;
      CREATE TRIGGER ${trigger} BEFORE UPDATE ON payments FOR EACH ROW
      WHEN (NEW.payment_token = '${noChargeToken}' AND OLD.charge_started_at IS NULL AND NEW.charge_started_at IS NOT NULL)
      EXECUTE FUNCTION ${trigger}()`);
    uncharged = await apiOrder(customer.token, {
      items: [{ product: 'Grinder', quantity: 1, price: 95000 }], payment_method: 'credit_card', payment_token: noChargeToken,
    });
    unchargedPay = (await eventually(async () => (await paymentsOf(uncharged._id))[0], { what: 'its payment' })).id;
    assert.equal(pgPaymentAdmin(`SELECT payment_method || ' ' || status || ' ' || (charge_started_at IS NULL)
      FROM payments WHERE id = ${unchargedPay}`), 'credit_card pending true', 'a pending card payment whose charge never started');
    await page.goto(`${BASE}/#/orders/${uncharged._id}`);
    await page.locator('.payment-status[data-status="pending"]').waitFor();
    await page.getByRole('button', { name: 'Complete payment' }).click();
    await page.locator('.payment-status[data-status="completed"]').waitFor();
    dropTrigger();
    await page.locator('#order-status[data-status="paid"]').waitFor({ timeout: 15000 });
    assert.equal(pgPaymentAdmin(`SELECT count(*) FROM processor_sim_charges
      WHERE reference = (SELECT transaction_id FROM payments WHERE id = ${unchargedPay})`), '0', 'the processor has no charge of it');
    await theirs.goto(`${BASE}/#/orders/${uncharged._id}`);
    await theirs.locator('.payment-status[data-status="completed"]').waitFor();
    assert.equal(await refundButtons(theirs).count(), 0, 'a customer gets no refund button');
  });

  step('its refund is refused (NO_PROCESSOR_CHARGE): the dialog says why and offers to record a refund made by hand', async () => {
    await page.getByRole('button', { name: 'Refund payment' }).click();
    await page.getByRole('dialog', { name: 'Refund this payment?' }).getByRole('button', { name: 'Yes, refund payment' }).click();
    const dialog = page.getByRole('dialog', { name: 'Record a refund made by hand?' });
    await dialog.waitFor();
    const alert = dialog.getByRole('alert');
    await alert.getByText('no charge of this payment: nothing was refunded').waitFor();
    assert.ok(await alert.evaluate((el) => el === document.activeElement), 'the focus is on the explanation');
    assert.match(await dialog.locator('.dialog-note').textContent(),
      new RegExp(`no charge of payment #${unchargedPay} .*No money moves through the processor: the payment is only marked refunded\\.`));
    assert.equal(await dialog.getByRole('button', { name: 'Record refund made by hand' }).count(), 1);
    assert.deepEqual(await a11yProblems(page), []);
    await shot(page, 'refund-by-hand.png');
    // nothing moved
    assert.equal((await paymentsOf(uncharged._id))[0].status, 'completed');
    assert.equal((await orderOf(uncharged._id)).status, 'paid');
  });

  step('the refund made by hand is recorded: the payment is refunded and the order says so', async () => {
    const dialog = page.getByRole('dialog', { name: 'Record a refund made by hand?' });
    await dialog.getByRole('button', { name: 'Record refund made by hand' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByText(`The refund of payment #${unchargedPay} made by hand is recorded.`).waitFor();
    await page.locator('.payment-status[data-status="refunded"]').waitFor();
    await page.locator('.notice-refund').waitFor({ timeout: 15000 });
    await page.locator('#order-status[data-status="cancelled"]').waitFor({ timeout: 15000 });
    assert.equal(await refundButtons(page).count(), 0);
    assert.equal((await paymentsOf(uncharged._id))[0].status, 'refunded');
    assert.equal(pgPaymentAdmin(`SELECT count(*) FROM processor_sim_charges
      WHERE reference = (SELECT transaction_id FROM payments WHERE id = ${unchargedPay})`), '0', 'still no charge at the processor');
    assert.deepEqual(page.problems, []);
    assert.deepEqual(theirs.problems, []);
  });
});

describe('an action that was done stays done when the page\'s refresh after it fails', () => {
  // Each it() stands alone, on an order of its own: one failing skips none
  // of the others.
  let page;        // the customer's
  let adminPage;
  let customer;
  let pending;     // a cash order, pending: the customer cancels it
  let declined;    // a card order, payment_failed: the customer pays again
  let paid;        // a card order, paid: the admin ships it

  before(async () => {
    customer = await apiCustomer('refreshfail', 'Ray Fresh');
    pending = await apiOrder(customer.token, { items: [{ product: 'Teapot', quantity: 1, price: 60000 }], payment_method: 'cash' });
    declined = await apiOrder(customer.token, {
      items: [{ product: 'Kettle', quantity: 1, price: 70000 }], payment_method: 'credit_card', payment_token: 'tok_decline',
    });
    paid = await apiOrder(customer.token, { items: [{ product: 'Mugs', quantity: 4, price: 9000 }], ...CARD });
    await apiWaitStatus(customer.token, declined._id, 'payment_failed');
    await apiWaitStatus(customer.token, paid._id, 'paid');
    page = await newPage(browser);
    adminPage = await newPage(browser);
    await uiLogin(page, customer.email, customer.password);
    await uiLogin(adminPage, ADMIN_EMAIL, ADMIN_PASSWORD);
  });
  after(async () => {
    if (page) await page.context().close();
    if (adminPage) await adminPage.context().close();
  });

  // Makes the page's refresh right after an action fail, on the wire. The
  // action's request (method, path) is held until the page's 2 s poll has
  // read the order and its payments: that poll saw nothing new, so it draws
  // nothing (a poll that saw the action done would draw the page anew and
  // hide what the refresh's failure did to it), and the next one is ~2 s
  // off (it cannot take the failure meant for the refresh). Then the
  // request goes to the server, is done, and its answer reaches the page;
  // the next GET of the order, the page's refresh after the action, is
  // answered 503. Resolves {failed() → how many were, lift()}.
  async function failRefreshAfter(p, method, pathname, orderId) {
    const orderPath = `/api/orders/${orderId}`;
    let armed = false;
    let failed = 0;
    const onOrder = async (route) => {
      if (armed && route.request().method() === 'GET') {
        armed = false;
        failed++;
        await route.fulfill({ status: 503, contentType: 'application/json',
          body: JSON.stringify({ success: false, error: 'Service unavailable (the test fails this refresh)', code: 'UNAVAILABLE' }) });
        return;
      }
      await route.fallback();
    };
    const onAction = async (route) => {
      if (route.request().method() !== method) { await route.fallback(); return; }
      const read = (what) => p.waitForResponse((r) => new URL(r.url()).pathname === what && r.request().method() === 'GET');
      await Promise.all([read(orderPath), read('/api/payments')]);
      const response = await route.fetch();
      armed = true;
      await route.fulfill({ response });
    };
    const isOrder = (url) => url.pathname === orderPath;
    const isAction = (url) => url.pathname === pathname;
    await p.route(isOrder, onOrder);
    await p.route(isAction, onAction);
    return {
      failed: () => failed,
      lift: async () => { await p.unroute(isOrder, onOrder); await p.unroute(isAction, onAction); },
    };
  }

  // What the page says in its live region: {kind, text}.
  const flash = (p) => p.evaluate(() => {
    const el = document.getElementById('flash');
    return { kind: el.className, text: el.textContent };
  });
  // The error messages on screen: an error announcement, a form's error summary.
  const errorsShown = (p) => p.locator('.flash-error, .form-summary:not([hidden])').allTextContents();

  it('cancelling: the refresh after it fails, the dialog closes, "Order cancelled." stands, no error', async () => {
    await page.goto(`${BASE}/#/orders/${pending._id}`);
    await page.locator('#order-status[data-status="pending"]').waitFor();
    const net = await failRefreshAfter(page, 'PUT', `/api/orders/${pending._id}/status`, pending._id);
    await page.getByRole('button', { name: 'Cancel order' }).click();
    const dialog = page.getByRole('dialog', { name: 'Cancel this order?' });
    await dialog.getByRole('button', { name: 'Yes, cancel order' }).click();
    // closed as on success, or (the defect) open with the refresh's error as the cancellation's
    const summary = dialog.locator('.form-summary');
    await eventually(async () => !(await dialog.isVisible()) || summary.isVisible(), { what: 'the dialog to close' });
    assert.equal(net.failed(), 1, 'the refresh after the cancellation was failed');
    assert.equal(await dialog.isVisible(), false,
      `the dialog closed (it says: ${await summary.isVisible() ? await summary.textContent() : ''})`);
    assert.deepEqual(await flash(page), { kind: 'flash flash-success', text: 'Order cancelled.' });
    assert.deepEqual(await errorsShown(page), [], 'no error shown');
    assert.equal((await api('GET', `/api/orders/${pending._id}`, { token: customer.token })).body.order.status, 'cancelled');
    // the poll draws the page as it is once the API answers again
    await net.lift();
    await page.locator('#order-status[data-status="cancelled"]').waitFor({ timeout: 15000 });
    assert.equal(await page.getByRole('button', { name: 'Cancel order' }).count(), 0);
  });

  it('paying again: the refresh after it fails, the payment\'s announcement stands, no error in the form', async () => {
    await page.goto(`${BASE}/#/orders/${declined._id}`);
    await page.locator('#order-status[data-status="payment_failed"]').waitFor();
    const form = page.locator('form.pay-again');
    await form.waitFor();
    const net = await failRefreshAfter(page, 'POST', '/api/payments', declined._id);
    const posted = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/payments' && r.request().method() === 'POST');
    // in one go: the poll may draw the form anew between a fill and a click
    await page.evaluate(() => {
      const f = document.querySelector('form.pay-again');
      f.querySelector('input[name="payment_token"]').value = 'tok_visa';
      f.requestSubmit();
    });
    const made = (await (await posted).json()).payment;
    await eventually(async () => net.failed() === 1
      && (await page.locator('form.pay-again [aria-busy="true"]').count()) === 0, { what: 'the submit to end' });
    assert.deepEqual(await flash(page),
      { kind: 'flash flash-success', text: `Payment #${made.id} ${made.status === 'completed' ? 'completed' : 'pending'}.` });
    assert.deepEqual(await errorsShown(page), [], 'no error shown');
    await net.lift();
    await page.locator('#order-status[data-status="paid"]').waitFor({ timeout: 15000 });
    assert.equal(await form.count(), 0);
    assert.deepEqual(page.problems, []);
  });

  it('an admin ships: the refresh after it fails, "Order marked as shipped." stands, no error', async () => {
    await adminPage.goto(`${BASE}/#/orders/${paid._id}`);
    await adminPage.locator('#order-status[data-status="paid"]').waitFor();
    const net = await failRefreshAfter(adminPage, 'PUT', `/api/orders/${paid._id}/status`, paid._id);
    await adminPage.getByRole('button', { name: 'Mark as shipped' }).click();
    await eventually(async () => net.failed() === 1 && (await adminPage.locator('#main button[aria-busy="true"]').count()) === 0,
      { what: 'the action to end' });
    assert.deepEqual(await flash(adminPage), { kind: 'flash flash-success', text: 'Order marked as shipped.' });
    assert.deepEqual(await errorsShown(adminPage), [], 'no error shown');
    assert.equal((await api('GET', `/api/orders/${paid._id}`, { token: customer.token })).body.order.status, 'shipped');
    await net.lift();
    await adminPage.locator('#order-status[data-status="shipped"]').waitFor({ timeout: 15000 });
    await adminPage.getByRole('button', { name: 'Mark as delivered' }).waitFor();
    assert.deepEqual(adminPage.problems, []);
  });
});

describe('a page that could not be drawn: "Try again", and by itself after an outage', () => {
  let page;
  let customer;
  let order;

  before(async () => {
    customer = await apiCustomer('pagefail', 'Paige Fail');
    order = await apiOrder(customer.token, { items: [{ product: 'Lamp', quantity: 1, price: 4500 }], payment_method: 'cash' });
    page = await newPage(browser);
    await uiLogin(page, customer.email, customer.password);
  });
  after(async () => { if (page) await page.context().close(); });

  // Answers every GET of the order with `status` until lifted.
  async function failOrder(status) {
    const isOrder = (url) => url.pathname === `/api/orders/${order._id}`;
    const handler = async (route) => {
      if (route.request().method() !== 'GET') { await route.fallback(); return; }
      await route.fulfill({ status, contentType: 'application/json',
        body: JSON.stringify({ success: false, error: `Failed by the test (${status})`, code: status === 503 ? 'UNAVAILABLE' : 'INTERNAL' }) });
    };
    await page.route(isOrder, handler);
    return { lift: () => page.unroute(isOrder, handler) };
  }
  const failedHeading = () => page.getByRole('heading', { level: 1, name: 'Something went wrong' });

  it('the API unavailable (503): the error page offers "Try again", and draws the order once the API answers, without a click', async () => {
    const net = await failOrder(503);
    await page.goto(`${BASE}/#/orders/${order._id}`);
    await failedHeading().waitFor();
    await page.getByRole('button', { name: 'Try again' }).waitFor();
    assert.match(await page.getByRole('alert').first().textContent(), /Failed by the test \(503\)/);
    await net.lift();
    await page.locator(`#order-status[data-status="${order.status}"]`).waitFor({ timeout: 15000 });
    assert.deepEqual(page.problems, []);
  });

  it('an error that is not an outage (500): no retry by itself; "Try again" draws the order', async () => {
    const net = await failOrder(500);
    await page.goto(`${BASE}/#/`);
    await page.goto(`${BASE}/#/orders/${order._id}`);
    await failedHeading().waitFor();
    await net.lift();
    // two polls' time: still the error page
    await sleep(4500);
    assert.equal(await failedHeading().count(), 1, 'the page waits for the user');
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.locator(`#order-status[data-status="${order.status}"]`).waitFor();
    assert.deepEqual(page.problems, []);
  });
});
