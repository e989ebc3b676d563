// Customers' names for admins' views. Orders carry only user_id: a view
// asks for the customers it shows (GET /api/users/{id}, at most one page's
// worth at once) and each answer is kept for a minute, so polls cost nothing
// while it is fresh (a deleted user's too: admins still see deleted users).
// A lookup that fails (the service down, a rate limit) shows as "#id" and
// is tried again after five seconds. Looking up only
// what is shown keeps this right on a system with any number of users.
import * as api from './api.js';

const NAME_TTL_MS = 60_000;
const FAILED_TTL_MS = 5_000;
const NAMES_KEPT = 1000;             // the cache is dropped past this many ids
const known = new Map();             // id -> { name (null: lookup failed), at }
/** The names of the users ids (a Map id -> name; unknown ones left out). */
export async function userNames(ids) {
  const now = Date.now();
  const stale = [...new Set(ids)].filter((id) => {
    const e = known.get(id);
    return !e || now - e.at >= (e.name === null ? FAILED_TTL_MS : NAME_TTL_MS);
  });
  if (known.size + stale.length > NAMES_KEPT) known.clear();
  await Promise.all(stale.map(async (id) => {
    let name = null;
    try {
      name = (await api.getUser(id)).user.name;
    } catch { /* shown as "#id" */ }
    known.set(id, { name, at: Date.now() });
  }));
  const names = new Map();
  for (const id of ids) {
    const e = known.get(id);
    if (e && e.name !== null) names.set(id, e.name);
  }
  return names;
}
