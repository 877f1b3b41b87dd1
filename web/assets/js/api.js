/*
 * api.js: the one way pages talk to the storyjobs API.
 *
 * Design: every request goes through request(). It adds the Bearer token
 * kept in localStorage, sends JSON (or a raw Blob for uploads), and turns
 * every failure into an ApiError carrying the HTTP status, the API's
 * machine code, its human message and retryAfter for 429. A network
 * failure is status 0, code NETWORK_ERROR. A 401 forgets the stored token
 * because the server no longer accepts it. Callers may list extra statuses
 * whose JSON body is still a valid answer (the health route answers 503
 * when the system is critical).
 */

const TOKEN_KEY = 'storyjobs.token';
const EMAIL_KEY = 'storyjobs.email';

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = extra.details;
    this.retryAfter = extra.retryAfter;
  }
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function getEmail() {
  return localStorage.getItem(EMAIL_KEY) || '';
}

export function saveSession(token, email) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(EMAIL_KEY, email || '');
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(EMAIL_KEY);
}

async function readBody(res) {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function retryAfterOf(res, body) {
  const n = Number((body && body.retryAfter) ?? res.headers.get('Retry-After'));
  return Number.isFinite(n) && n > 0 ? Math.ceil(n) : undefined;
}

/*
 * request(method, path, opts) -> parsed JSON body (null for an empty one).
 * opts.json: a value sent as JSON; opts.blob: a Blob sent raw with its
 * own type; opts.accept: extra statuses treated as success.
 * Throws ApiError on any failure.
 */
export async function request(method, path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.blob) {
    headers['Content-Type'] = opts.blob.type || 'application/octet-stream';
    body = opts.blob;
  } else if (opts.json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.json);
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'NETWORK_ERROR', 'Could not reach the server');
  }
  const data = await readBody(res);
  if (res.ok || (opts.accept || []).includes(res.status)) return data;
  if (res.status === 401 && token) clearSession();
  const code = (data && data.code) || `HTTP_${res.status}`;
  const message = (data && typeof data.error === 'string' && data.error) ||
    `The server answered ${res.status}`;
  throw new ApiError(res.status, code, message, {
    details: data && data.details,
    retryAfter: retryAfterOf(res, data),
  });
}

export const api = {
  get: (path, opts) => request('GET', path, opts),
  post: (path, json, opts = {}) => request('POST', path, { ...opts, json }),
  upload: (blob) => request('POST', '/api/uploads', { blob }),
};
