/*
 * auth.js: sign in and sign out at /auth.
 *
 * Design: signed out, the page shows the login form; a good login stores
 * the token (api.js) and goes to ?next= when it is a path on this site,
 * else to /jobs. Signed in (the stored token still answers /api/auth/me),
 * it shows who is signed in and a sign-out button. Errors are said plainly:
 * a wrong email or password, or how long to wait after too many attempts.
 */
import { api, getToken, saveSession, clearSession } from './api.js';
import { el, showError, explain, clearSlot, initHeader } from './ui.js';

const $ = (id) => document.getElementById(id);

// Where to go after signing in: ?next= only when it lands on this site.
// It is resolved as the browser resolves any link (tabs and newlines
// dropped, backslashes read as slashes, "//host", "https://host",
// "javascript:") and kept only when the result has this origin; the
// absolute URL is returned, so a path such as "//host" that dot segments
// can produce is never read again as a host.
function nextPath() {
  const next = new URLSearchParams(location.search).get('next');
  if (!next) return '/jobs';
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return '/jobs';
  }
  return url.origin === location.origin ? url.href : '/jobs';
}

function say(text, field) {
  $('auth-slot').replaceChildren(el('div', { class: 'notice notice-error', role: 'alert', testid: 'error-message' }, el('p', { text })));
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
}

function showSignedOut() {
  $('signed-in').hidden = true;
  $('login-form').hidden = false;
  $('auth-heading').textContent = 'Sign in';
  initHeader();
}

function showSignedIn(user) {
  $('login-form').hidden = true;
  $('signed-in').hidden = false;
  $('auth-heading').textContent = 'Your account';
  $('signed-in-text').textContent = `You are signed in as ${user.email}.`;
  initHeader();
}

async function onSubmit(event) {
  event.preventDefault();
  clearSlot($('auth-slot'));
  for (const f of document.querySelectorAll('[aria-invalid]')) f.removeAttribute('aria-invalid');
  const email = $('email').value.trim();
  const password = $('password').value;
  if (!email || !email.includes('@')) return say('Please enter your email address.', $('email'));
  if (!password) return say('Please enter your password.', $('password'));
  const button = document.querySelector('[data-testid="login-button"]');
  button.disabled = true;
  try {
    const res = await api.post('/api/auth/login', { email, password });
    saveSession(res.token, res.user && res.user.email);
    location.assign(nextPath());
  } catch (err) {
    if (err.status === 401) say('Wrong email or password. Check both and try again.', $('password'));
    else if (err.status === 429) say(`Too many sign-in attempts. Please wait ${err.retryAfter || 60} seconds, then try again.`);
    else if (err.status === 400) say(`Please check your details: ${err.message}.`);
    else showError($('auth-slot'), err, () => $('login-form').requestSubmit());
    button.disabled = false;
  }
}

async function onLogout() {
  try {
    await api.post('/api/auth/logout');
  } catch (err) {
    if (explain(err).retry && err.status !== 401) {
      showError($('auth-slot'), err, onLogout);
      return;
    }
  }
  clearSession();
  showSignedOut();
  $('auth-slot').replaceChildren(el('p', { class: 'notice', role: 'status', text: 'You are signed out.' }));
  $('email').focus();
}

async function start() {
  initHeader();
  $('login-form').addEventListener('submit', onSubmit);
  $('logout-button').addEventListener('click', onLogout);
  if (!getToken()) return showSignedOut();
  try {
    showSignedIn(await api.get('/api/auth/me'));
  } catch (err) {
    if (err.status === 401) return showSignedOut();
    showSignedOut();
    showError($('auth-slot'), err, start);
  }
}

start();
