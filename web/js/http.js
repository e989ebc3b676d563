// The one place that talks HTTP to the gateway (same origin: the gateway
// serves this app, so no CORS). Every answer of the API is JSON with
// {"success": ...}; an error is turned into an ApiError carrying the API's
// code, message, field details and request id.

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super((body && typeof body.error === 'string' && body.error) || fallback || `Request failed (${status})`);
    this.name = 'ApiError';
    this.status = status;                      // HTTP status; 0: no answer
    this.code = body && body.code;             // canonical code, "INVALID_ARGUMENT"
    this.reason = body && body.reason;         // e.g. IDEMPOTENCY_KEY_REUSED
    this.details = (body && Array.isArray(body.details)) ? body.details : [];
    this.requestId = body && body.request_id;
  }
}

/** A JSON body whose money members keep the literal text the user typed. */
export class RawJson {
  constructor(text) { this.text = text; }
}

/**
 * JSON.stringify, except that RawJson values are written as their text:
 * amounts typed as "19.99" travel as the number literal 19.99 exactly as
 * typed (the API reads the literal, never a binary double).
 */
export function toJson(value) {
  const raws = [];
  // A marker no user text can guess, replaced after stringifying.
  const mark = `raw-${newKey()}-`;
  const text = JSON.stringify(value, (_k, v) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `${mark}${raws.length - 1}`;
    }
    return v;
  });
  return text.replace(new RegExp(`"${mark}(\\d+)"`, 'g'), (_m, i) => raws[Number(i)]);
}

/** A number literal the API accepts, or the text itself (then the API names the field). */
export function moneyLiteral(text) {
  const t = String(text).trim();
  return /^\d+(\.\d+)?$/.test(t) ? new RawJson(t) : t;
}

/** An integer when the text is one, else the text (the API answers "must be an integer"). */
export function intLiteral(text) {
  const t = String(text).trim();
  return /^-?\d{1,15}$/.test(t) ? Number(t) : t;
}

/**
 * Sends one request. options: body (object), token (bearer), headers.
 * Resolves with the parsed body of a 2xx; rejects with ApiError otherwise
 * (status 0 when the server could not be reached).
 */
export async function send(method, path, { body, token, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (token) h.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    h['Content-Type'] = 'application/json';
    payload = toJson(body);
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError(0, null, 'Cannot reach the server. Check your connection and try again.');
  }
  let data = null;
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (res.ok && data && data.success !== false) return data;
  let fallback;
  if (res.status === 429) {
    const after = res.headers.get('Retry-After');
    fallback = `Too many requests${after ? `: try again in ${after} s` : ''}.`;
  }
  throw new ApiError(res.status, data, fallback);
}

/** A random Idempotency-Key (UUID v4 form; crypto.randomUUID needs a secure context). */
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
