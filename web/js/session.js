// The login session: the access token (a JWT, at most 15 minutes), the
// refresh token and the user, kept in localStorage so that every tab of the
// app shares one session.
//
// Refresh tokens rotate and the API treats a refresh token presented twice
// as theft (it revokes the whole session). So a refresh must never race
// another one, in this tab or in another: refreshes run one at a time under
// a Web Lock shared by all tabs ("comanda-refresh"), and whoever gets the
// lock first re-reads the stored session: when another tab has already
// refreshed, its new tokens are adopted instead of presenting the old one.
// (Without Web Locks - plain http on a non-local host - tabs only serialize
// their own refreshes.)
//
// Refresh happens (1) shortly before the access token expires, on a timer,
// (2) before a request when the token is about to expire, and (3) once when
// a request answers 401 (api.js). A timed refresh that fails for any reason
// but a refused token (the server busy or unreachable: 503, 504, offline) is
// tried again soon, 5 s and then doubling up to 30 s, even in an idle tab:
// its exchange may have happened without the answer arriving, and the API
// gives the same answer to the same token again only for a while
// (REFRESH_RETRY_GRACE_S, 120 s by default).

import { ApiError, send } from './http.js';

const KEY = 'comanda.session';
const listeners = new Set();
let state = read();
let timer = 0;
let retryMs = 0;      // the wait before the next retry of a failed timed refresh
let inflight = null;

function read(text = localStorage.getItem(KEY)) {
  try {
    const s = JSON.parse(text);
    if (s && typeof s.token === 'string' && typeof s.refresh_token === 'string' &&
        typeof s.expires_at === 'number' && s.user && typeof s.user.id === 'number') return s;
  } catch { /* nothing stored, or garbage */ }
  return null;
}

function emit(reason) {
  for (const fn of listeners) fn(state, reason);
}

function store(next, reason) {
  state = next;
  if (next) localStorage.setItem(KEY, JSON.stringify(next));
  else localStorage.removeItem(KEY);
  schedule();
  emit(reason);
}

function fromTokens(body) {
  return {
    token: body.token,
    refresh_token: body.refresh_token,
    expires_at: Date.now() + Number(body.expires_in || 0) * 1000,
    user: body.user,
  };
}

/** Refresh a little before expiry: a minute, or a quarter of a short lifetime. */
function schedule() {
  clearTimeout(timer);
  retryMs = 0;
  if (!state) return;
  const left = state.expires_at - Date.now();
  const lead = Math.min(60_000, Math.max(left / 4, 0));
  timer = setTimeout(timedRefresh, Math.max(1000, left - lead));
}

function timedRefresh() {
  refresh().then(() => { retryMs = 0; }, () => {
    if (!state) return; // refused: the session is over, nothing to retry
    retryMs = Math.min(30_000, retryMs ? retryMs * 2 : 5_000);
    clearTimeout(timer);
    timer = setTimeout(timedRefresh, retryMs);
  });
}

// Another tab logged in, refreshed or logged out.
window.addEventListener('storage', (e) => {
  if (e.key !== KEY && e.key !== null) return;
  const before = state;
  state = read(e.newValue);
  schedule();
  emit(!state && before ? 'elsewhere' : 'sync');
});

export const current = () => state;
export const user = () => (state ? state.user : null);
export const isAdmin = () => Boolean(state && state.user.role === 'admin');
export function onChange(fn) { listeners.add(fn); return () => listeners.delete(fn); }

/** The access token, refreshed first when it expires within 20 s. */
export async function accessToken() {
  if (!state) return null;
  if (state.expires_at - Date.now() < 20_000) {
    try { await refresh(); } catch (e) { if (!state) throw e; /* offline: try the old one */ }
  }
  return state ? state.token : null;
}

export async function login(email, password) {
  const body = await send('POST', '/api/auth/login', { body: { email, password } });
  store(fromTokens(body), 'login');
  return body.user;
}

/**
 * Exchanges the refresh token for a new pair (one at a time, see above).
 * A 401 ends the session (store(null, 'expired')) and rethrows; a network
 * error keeps it and rethrows.
 */
export function refresh() {
  if (inflight) return inflight;
  const presented = state && state.refresh_token;
  if (!presented) return Promise.reject(new ApiError(401, null, 'Not logged in'));
  const run = async () => {
    const stored = read();
    if (!stored) { // logged out elsewhere meanwhile
      store(null, 'elsewhere');
      throw new ApiError(401, null, 'Your session has ended. Please log in again.');
    }
    if (stored.refresh_token !== presented) { // another tab refreshed first
      state = stored;
      schedule();
      emit('sync');
      return;
    }
    try {
      const body = await send('POST', '/api/auth/refresh', { body: { refresh_token: presented } });
      store(fromTokens(body), 'refresh');
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        store(null, 'expired');
        e.message = 'Your session has ended. Please log in again.';
      }
      throw e;
    }
  };
  const locked = navigator.locks ? navigator.locks.request('comanda-refresh', run) : run();
  inflight = locked.finally(() => { inflight = null; });
  return inflight;
}

/** Ends the session on the server (its refresh token stops working) and here. */
export async function logout() {
  const s = state;
  store(null, 'logout');
  if (!s) return;
  try {
    await send('POST', '/api/auth/logout', { token: s.token });
  } catch {
    // The access token may have expired: refresh once and log out with the new one.
    try {
      const body = await send('POST', '/api/auth/refresh', { body: { refresh_token: s.refresh_token } });
      await send('POST', '/api/auth/logout', { token: body.token });
    } catch { /* already ended, or offline: nothing more to do */ }
  }
}

/** Replaces the stored user (after GET /api/users/me). */
export function setUser(u) {
  if (state) store({ ...state, user: u }, 'user');
}

schedule();
