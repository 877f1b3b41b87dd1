/*
 * ui.js: small DOM helpers shared by every page.
 *
 * Design: pages build their DOM with el() (createElement + textContent,
 * never innerHTML, so API text is always inert). explain() turns an
 * ApiError into words and a way forward: sign in, wait, fix the field or
 * retry. showError() renders that into one slot as a role=alert box with
 * data-testid="error-message" and, when retrying can help, a
 * data-testid="retry-button". initHeader() marks the current nav link and
 * says whether the visitor is signed in.
 */
import { getToken, getEmail } from './api.js';

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else if (key === 'testid') node.dataset.testid = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, '');
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function signInHref() {
  const next = location.pathname + location.search;
  return `/auth?next=${encodeURIComponent(next)}`;
}

/* explain(err) -> { text, retry (bool), signIn (bool), wait (seconds) } */
export function explain(err) {
  const msg = err && err.message ? err.message : 'Unknown error';
  const status = err && err.status;
  const code = err && err.code;
  if (status === 0 || code === 'NETWORK_ERROR')
    return { text: 'Could not reach storyjobs. Check your connection, then try again.', retry: true };
  if (status === 401)
    return { text: 'Please sign in to continue.', signIn: true };
  if (status === 429 || code === 'RATE_LIMIT_EXCEEDED') {
    const wait = err.retryAfter || 30;
    return { text: `Too many requests. Please wait ${wait} seconds, then try again.`, retry: true, wait };
  }
  switch (code) {
    case 'DATABASE_ERROR': {
      const why = (typeof err.details === 'string' && err.details) ||
        (/^database error\.?$/i.test(msg) ? 'the server could not reach its data store' : msg);
      return { text: `Database error: ${why}. Your work is not lost; please try again in a moment.`, retry: true };
    }
    case 'EXTERNAL_SERVICE_ERROR':
      return { text: `The picture and story service had a problem: ${msg}. Please try again.`, retry: true };
    case 'QUOTA_EXCEEDED':
      return { text: `${msg}. Wait for a running job to finish or cancel one on the jobs page, then try again.`, retry: true };
    case 'FORBIDDEN':
      return { text: 'You are not allowed to do that with this job.' };
    case 'JOB_NOT_FOUND':
    case 'NOT_FOUND':
      return { text: 'We could not find it. The address may be wrong, or it was removed.' };
    case 'PAYLOAD_TOO_LARGE':
      return { text: 'That image is too large. Please choose one under 10 MB.' };
    case 'UNSUPPORTED_MEDIA_TYPE':
      return { text: 'That file is not a PNG, JPEG or WebP picture. Please choose another one.' };
    case 'INVALID_INPUT':
      return { text: `Please check your answers: ${msg}.` };
    case 'CONFLICT':
      return { text: `${msg}. The list has been refreshed.` };
    default:
      break;
  }
  if (status >= 500)
    return { text: `Something went wrong on the server: ${msg}. Please try again.`, retry: true };
  return { text: msg, retry: false };
}

/*
 * showError(slot, err, onRetry): replace slot's content with an error box.
 * The retry button appears only when retrying can help and onRetry is
 * given; during a 429 wait it is disabled and counts down.
 */
export function showError(slot, err, onRetry, ids = {}) {
  const info = explain(err);
  const box = el('div', { class: 'notice notice-error', role: 'alert', testid: ids.box || 'error-message' },
    el('p', { text: info.text }));
  if (info.signIn) {
    box.append(el('p', {}, el('a', { href: signInHref(), text: 'Sign in' })));
  }
  if (info.retry && onRetry) {
    const button = el('button', { type: 'button', testid: ids.button || 'retry-button', text: 'Try again' });
    button.addEventListener('click', () => {
      clearSlot(slot);
      onRetry();
    });
    if (info.wait) countDown(button, info.wait);
    box.append(button);
  }
  slot.replaceChildren(box);
  return box;
}

function countDown(button, seconds) {
  let left = seconds;
  button.disabled = true;
  button.textContent = `Try again (${left} s)`;
  const timer = setInterval(() => {
    left -= 1;
    if (left > 0) {
      button.textContent = `Try again (${left} s)`;
      return;
    }
    clearInterval(timer);
    button.disabled = false;
    button.textContent = 'Try again';
  }, 1000);
}

export function clearSlot(slot) {
  slot.replaceChildren();
}

/* A person's reading of seconds left: "about 2 minutes". */
export function formatEta(value) {
  if (typeof value === 'string' && value.trim() !== '' && !/^\d+$/.test(value)) return value;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) return '';
  if (seconds < 60) return 'less than a minute';
  const minutes = Math.round(seconds / 60);
  return minutes === 1 ? 'about 1 minute' : `about ${minutes} minutes`;
}

export const TYPE_NAMES = {
  storybook: 'Storybook',
  'auto-story': 'Auto-story',
  scenes: 'Scene plan',
  cartoonize: 'Cartoon picture',
  'image-generation': 'Illustration',
};

export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleString();
}

export function initHeader() {
  const here = location.pathname;
  for (const link of document.querySelectorAll('.site-nav a')) {
    const target = link.getAttribute('href');
    if (here === target || (target === '/jobs' && here.startsWith('/jobs/')))
      link.setAttribute('aria-current', 'page');
  }
  const account = document.querySelector('[data-account]');
  if (account) {
    account.textContent = getToken() ? `Account (${getEmail() || 'signed in'})` : 'Sign in';
  }
}
