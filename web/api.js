// The JSON API, as scripts use it: the session cookie authenticates, and every change
// carries the session's CSRF token.

let session = { signed_in: false };

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function messageOf(data) {
  if (!data) return '';
  const m = data.message || data.error_description || data.error;
  return typeof m === 'string' ? m : JSON.stringify(m);
}

export async function loadSession() {
  const r = await fetch('/-/session', { credentials: 'same-origin', cache: 'no-store' });
  const data = await r.json().catch(() => ({}));
  session = r.ok ? data : { signed_in: false, expired: r.status === 401 };
  return session;
}

export function currentSession() {
  return session;
}

export async function post(url, body) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json',
    'X-Requested-With': 'XMLHttpRequest' };
  if (session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body || {}),
    credentials: 'same-origin' });
  const data = await r.json().catch(() => null);
  if (!r.ok) throw new ApiError(r.status, messageOf(data) || r.statusText);
  return data;
}

// path under /api/v4; resolves {data, headers}.
export async function api(path, { method = 'GET', body } = {}) {
  // X-Requested-With: a 401 then carries no Basic challenge (no password prompt)
  const headers = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
  if (method !== 'GET' && session.csrf_token) headers['X-CSRF-Token'] = session.csrf_token;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch('/api/v4' + path, {
    method, headers, credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) {
    const err = new ApiError(r.status, messageOf(data) || `${r.status} ${r.statusText}`);
    if (r.status === 401 && session.signed_in) err.expired = true;
    throw err;
  }
  return { data, headers: r.headers };
}

// Every page of a listing (at most `max` items).
export async function apiAll(path, max = 1000) {
  const out = [];
  const sep = path.includes('?') ? '&' : '?';
  for (let page = 1; out.length < max; page++) {
    const { data, headers } = await api(`${path}${sep}per_page=100&page=${page}`);
    out.push(...data);
    if (page >= Number(headers.get('X-Total-Pages') || 1)) break;
  }
  return out;
}

export const enc = encodeURIComponent;
