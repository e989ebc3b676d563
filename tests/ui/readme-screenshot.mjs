// Makes the README's screenshot, docs/img/dashboard.png: seeds a few
// believable customers and orders through the API, moves them through the
// saga (paid, shipped, delivered, declined, refunded, cash pending), then
// photographs the admin dashboard at desktop width.
//
// Not a test (node --test only runs *.test.mjs). Run it on a fresh stack, so
// that nothing else is on the dashboard:
//   export COMANDA_RUN_DIR=$PWD/.run/shot COMANDA_PORTS=random COMANDA_PG_FAST=1
//   scripts/stack.sh up && eval "$(scripts/stack.sh env)"
//   GATEWAY_URL ADMIN_EMAIL ADMIN_PASSWORD exported: node tests/ui/readme-screenshot.mjs [out.png]
//   scripts/stack.sh down
import path from 'node:path';
import {
  ADMIN_EMAIL, ADMIN_PASSWORD, BASE, DESKTOP, REPO, api, apiLogin, apiOrder, apiWaitStatus, launch, newPage, uiLogin,
} from './helpers.mjs';

const out = process.argv[2] || path.join(REPO, 'docs/img/dashboard.png');

async function customer(name, email) {
  const password = 'correct-horse-1';
  const r = await api('POST', '/api/users', { body: { name, email, password } });
  if (r.status !== 201 && r.status !== 409) throw new Error(`sign-up ${email}: ${r.status} ${r.text}`);
  return (await apiLogin(email, password)).token;
}

const card = { payment_method: 'credit_card', payment_token: 'tok_visa' };
const admin = (await apiLogin(ADMIN_EMAIL, ADMIN_PASSWORD)).token;
const setStatus = (id, status, reason) =>
  api('PUT', `/api/orders/${id}/status`, { token: admin, body: reason ? { status, reason } : { status } });

const ana = await customer('Ana María Ruiz', 'ana.ruiz@example.com');
const bo = await customer('Bo Lindqvist', 'bo@example.com');
const carla = await customer('Carla Méndez', 'carla@example.com');

const laptop = await apiOrder(ana, { items: [{ product: 'Laptop Dell Inspiron', quantity: 1, price: 3500000 },
  { product: 'Mouse Logitech', quantity: 2, price: 80000 }], ...card });
const monitor = await apiOrder(carla, { items: [{ product: 'Monitor LG 27"', quantity: 1, price: 1250000 }], ...card });
const notebooks = await apiOrder(bo, { items: [{ product: 'Notebook A5', quantity: 5, price: 12.5 }], currency: 'USD', ...card });
await apiOrder(ana, { items: [{ product: 'Coffee beans 500 g', quantity: 3, price: 42000 }], payment_method: 'cash' });
await apiOrder(bo, { items: [{ product: 'Headphones Sony WH-1000', quantity: 1, price: 899000 }],
  payment_method: 'credit_card', payment_token: 'tok_decline' });
await apiOrder(carla, { items: [{ product: 'Desk lamp', quantity: 1, price: 159900 }], ...card });
await apiOrder(ana, { items: [{ product: 'The Pragmatic Programmer', quantity: 2, price: 39.99 }], currency: 'USD', ...card });
await apiOrder(bo, { items: [{ product: 'Mechanical keyboard', quantity: 1, price: 320000 }], payment_method: 'bank_transfer' });

await apiWaitStatus(admin, laptop._id, 'paid');
await setStatus(laptop._id, 'shipped');
await setStatus(laptop._id, 'delivered');
await apiWaitStatus(admin, notebooks._id, 'paid');
await setStatus(notebooks._id, 'shipped');
await apiWaitStatus(admin, monitor._id, 'paid');
await setStatus(monitor._id, 'cancelled', 'ordered the wrong size');
await new Promise((r) => setTimeout(r, 2500));   // the saga settles the rest

const browser = await launch();
try {
  const page = await newPage(browser, DESKTOP);
  await uiLogin(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
  await page.locator('.cards:not([aria-busy])').waitFor();
  await page.locator('.health-overall [data-status]').waitFor();
  await page.locator('tbody tr').first().waitFor();
  await page.evaluate(() => { document.getElementById('flash').replaceChildren(); });
  await page.mouse.move(0, 0);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out} (${BASE})`);
} finally {
  await browser.close();
}
