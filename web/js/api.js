// The API calls the app makes, authenticated with the session's access
// token. A 401 (an access token that expired or was refused) triggers one
// refresh and one retry; when the refresh fails too the session ends and
// the app shows the login form.

import { ApiError, send } from './http.js';
import * as session from './session.js';

async function call(method, path, options = {}) {
  const token = await session.accessToken();
  if (!token) throw new ApiError(401, null, 'Please log in.');
  try {
    return await send(method, path, { ...options, token });
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401 || !session.current()) throw e;
    // Another request may have refreshed while this one was out: then just
    // retry with the new token instead of rotating the session again.
    if (session.current().token === token) await session.refresh(); // throws (and ends the session) when refused
    return send(method, path, { ...options, token: session.current().token });
  }
}

const qs = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
};

export const me = () => call('GET', '/api/users/me');
export const signUp = (body, key) => send('POST', '/api/users', { body, headers: { 'Idempotency-Key': key } });
export const listUsers = (p = {}) => call('GET', `/api/users${qs(p)}`);
export const getUser = (id) => call('GET', `/api/users/${encodeURIComponent(id)}`);

export const listOrders = (p = {}) => call('GET', `/api/orders${qs(p)}`);
export const orderStats = (p = {}) => call('GET', `/api/orders/stats${qs(p)}`);
export const getOrder = (id) => call('GET', `/api/orders/${encodeURIComponent(id)}`);
export const createOrder = (body, key) => call('POST', '/api/orders', { body, headers: { 'Idempotency-Key': key } });
export const setOrderStatus = (id, status, reason) =>
  call('PUT', `/api/orders/${encodeURIComponent(id)}/status`, { body: reason ? { status, reason } : { status } });

export const listPayments = (p = {}) => call('GET', `/api/payments${qs(p)}`);
export const createPayment = (body, key) => call('POST', '/api/payments', { body, headers: { 'Idempotency-Key': key } });
export const setPaymentStatus = (id, status, reason) =>
  call('PUT', `/api/payments/${encodeURIComponent(id)}/status`, { body: reason ? { status, reason } : { status } });
/** byHand: record a refund a person made outside the processor ({"by_hand": true}); else no body. */
export const refundPayment = (id, byHand) =>
  call('POST', `/api/payments/${encodeURIComponent(id)}/refund`, byHand ? { body: { by_hand: true } } : {});

/** GET /status is public and not in the {"success": ...} envelope. */
export async function status() {
  const res = await fetch('/status', { cache: 'no-store', headers: { Accept: 'application/json' } });
  if (!res.ok) throw new ApiError(res.status, null, 'The status endpoint did not answer.');
  return res.json();
}
