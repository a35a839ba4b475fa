// The one place the page talks to `dojo serve`: JSON over /v1 with the session cookie, and
// the CSRF token (from the session) on every request that changes state.
//
// An error answer becomes an ApiError carrying the HTTP status, the server's message and,
// when the server names one, the field it refers to (so a form can show it next to that
// field).

let session = null; // {user, admin, csrf} once signed in

export class ApiError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || null;
  }
}

export function current_session() {
  return session;
}

// A 401 on any request but the sign-in itself means the session has ended (expired, or
// signed out in another tab): the shell listens for this and shows the sign-in form.
function session_lost() {
  if (!session) return;
  session = null;
  remember_signed_in(false);
  window.dispatchEvent(new Event('dojo:signed-out'));
}

// Whether this browser signed in and has not signed out since. The session cookie is
// HttpOnly, so the page cannot see it; without this mark a first visit would have to ask
// the server and be answered 401, an error in the browser's console.
const kSignedInKey = 'dojo.signed_in';
function remember_signed_in(yes) {
  try {
    if (yes) window.localStorage.setItem(kSignedInKey, '1');
    else window.localStorage.removeItem(kSignedInKey);
  } catch {
    // Storage disabled: the page asks the server every time instead.
  }
}
function may_be_signed_in() {
  try {
    return window.localStorage.getItem(kSignedInKey) !== null;
  } catch {
    return true;
  }
}

const kStateChanging = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function headers_for(method, extra) {
  const h = Object.assign({}, extra);
  if (kStateChanging.has(method) && session && session.csrf) h['X-CSRF-Token'] = session.csrf;
  return h;
}

async function error_from(res) {
  let message = `${res.status} ${res.statusText}`;
  let field = null;
  try {
    // The server's errors: {"error": {"status", "field", "message"}}.
    const err = (await res.json()).error;
    if (err && typeof err.message === 'string') message = err.message;
    if (err && typeof err.field === 'string' && err.field) field = err.field;
  } catch (_) {
    // Not JSON: keep the status line.
  }
  return new ApiError(res.status, message, field);
}

// request('GET', '/v1/jobs') -> parsed JSON (or null for an empty body).
export async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: headers_for(method, {}) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (res.status === 401 && path !== '/v1/session') session_lost();
  if (!res.ok) throw await error_from(res);
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

// The raw text of a resource (a log, metrics.jsonl), optionally from a byte offset.
export async function fetch_text(path, range_from) {
  const init = { credentials: 'same-origin', headers: {} };
  if (range_from) init.headers['Range'] = `bytes=${range_from}-`;
  const res = await fetch(path, init);
  if (!res.ok) throw await error_from(res);
  return res.text();
}

// Upload one file with a progress callback (fetch has no upload progress; XHR does).
export function upload(path, file, on_progress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', path);
    xhr.withCredentials = true;
    if (session && session.csrf) xhr.setRequestHeader('X-CSRF-Token', session.csrf);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) on_progress(e.loaded, e.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        on_progress(file.size, file.size);
        resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
      } else {
        error_from(new Response(xhr.responseText, { status: xhr.status, statusText: xhr.statusText }))
          .then(reject, reject);
      }
    };
    xhr.onerror = () => reject(new ApiError(0, `upload of ${file.name} failed: connection lost`));
    xhr.send(file);
  });
}

// Session: probe the cookie, sign in with an API token, sign out.
export async function load_session() {
  if (!may_be_signed_in()) {
    session = null;
    return null;
  }
  const res = await fetch('/v1/session', { credentials: 'same-origin' });
  if (res.status === 401) {
    session = null;
    remember_signed_in(false);  // the cookie expired or was revoked
    return null;
  }
  if (!res.ok) throw await error_from(res);
  session = await res.json();
  return session;
}

export async function sign_in(token) {
  session = null;
  session = await request('POST', '/v1/session', { token });
  remember_signed_in(true);
  return session;
}

export async function sign_out() {
  try {
    await request('DELETE', '/v1/session');
  } finally {
    session = null;
    remember_signed_in(false);
  }
}
