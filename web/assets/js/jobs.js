/*
 * jobs.js: the job dashboard at /jobs.
 *
 * Design: the list comes from GET /api/jobs/user with the chosen status
 * and type filters (50 at a time, "Show older jobs" follows nextCursor).
 * While any listed job is pending or processing the list is polled with
 * backoff; it is redrawn in full each time, and focus is put back on the
 * control with the same data-testid. Cancel opens a modal <dialog>
 * (confirm-cancel) and returns focus to where it came from; retry posts
 * at once. Health alerts come from GET /api/jobs/health (which answers
 * 503 when critical): system-alert, queue-alert and error-rate-alert.
 */
import { api, getToken } from './api.js';
import { el, showError, clearSlot, initHeader, signInHref, formatEta, formatTime, TYPE_NAMES } from './ui.js';
import { poll } from './poll.js';

const $ = (id) => document.getElementById(id);
const STATUSES = ['pending', 'processing', 'completed', 'failed', 'cancelled'];
const LIVE = ['pending', 'processing'];
const PAGE = 50;

let poller = null;
let jobs = [];
let cursor = null;
let cancelTarget = null;
let returnFocus = null;

function query(before) {
  const params = new URLSearchParams({ limit: String(PAGE) });
  const status = $('status-filter').value;
  const type = $('type-filter').value;
  if (status !== 'all') params.set('status', status);
  if (type !== 'all') params.set('type', type);
  if (before) params.set('before', before);
  return `/api/jobs/user?${params}`;
}

/* ---- alerts ---- */

function alertBox(testid, tone, title, text) {
  return el('div', { class: `notice notice-${tone}`, role: 'alert', testid },
    el('p', {}, el('strong', { text: title }), ' ', text));
}

async function loadHealth() {
  let health;
  try {
    health = await api.get('/api/jobs/health', { accept: [503] });
  } catch {
    return;
  }
  if (!health) return;
  const alerts = (health.health && health.health.alerts) || health.alerts || [];
  const metrics = health.metrics || {};
  const boxes = [];
  if (health.status === 'critical') {
    boxes.push(alertBox('system-alert', 'error', 'System status: critical.',
      `${health.message || 'System experiencing critical issues'}. New jobs may be slow or fail; jobs already started are kept.`));
  }
  if (alerts.some((a) => /queue depth is elevated/i.test(a))) {
    const depth = Number.isFinite(metrics.queueDepth) ? ` (${metrics.queueDepth} jobs waiting)` : '';
    boxes.push(alertBox('queue-alert', 'warning', 'Queue depth is elevated.', `Many jobs are waiting${depth}, so yours may take longer than usual.`));
  }
  const lowSuccess = alerts.some((a) => /success rate/i.test(a));
  if (lowSuccess || Number(metrics.errorRate) > 10) {
    const rate = Number.isFinite(metrics.errorRate) ? `${metrics.errorRate}% of recent jobs failed. ` : '';
    boxes.push(alertBox('error-rate-alert', 'warning', 'High error rate.', `${rate}If a job fails, try it again later.`));
  }
  for (const a of alerts) {
    if (!/queue depth is elevated|success rate/i.test(a))
      boxes.push(alertBox(undefined, 'warning', 'Notice:', a));
  }
  $('alerts').replaceChildren(...boxes);
}

/* ---- list ---- */

function statusBadge(job) {
  return el('span', { class: `status status-${job.status}`, testid: `job-status-${job.jobId}` },
    el('span', { testid: `job-status-${job.status}`, text: job.status }));
}

function card(job) {
  const id = job.jobId;
  const name = TYPE_NAMES[job.jobType] || job.jobType;
  const pct = Math.max(0, Math.min(100, Number(job.progress) || 0));
  const barId = `bar-${id}`;
  const actions = el('div', { class: 'actions' },
    el('a', { href: `/jobs/status/${encodeURIComponent(id)}`, text: 'Details', 'aria-label': `Details of ${name} job from ${formatTime(job.createdAt)}` }));
  const result = job.result || {};
  if (job.status === 'completed' && result.storybook_id) {
    actions.append(el('a', { href: `/storybook/${encodeURIComponent(result.storybook_id)}`, text: 'Read the storybook' }));
  }
  if (LIVE.includes(job.status)) {
    actions.append(el('button', { type: 'button', class: 'danger', testid: `cancel-job-${id}`, text: 'Cancel',
      'aria-label': `Cancel ${name} job`, onclick: (e) => askCancel(id, e.currentTarget) }));
  }
  if (job.status === 'failed' || job.status === 'cancelled') {
    actions.append(el('button', { type: 'button', testid: `retry-job-${id}`, text: 'Try again',
      'aria-label': `Try again: ${name} job`, onclick: () => retry(id) }));
  }
  const eta = LIVE.includes(job.status) ? formatEta(job.estimatedTimeRemaining) : '';
  return el('li', { class: 'job-card card', testid: 'job-card', 'data-job-id': id },
    el('h3', { text: `${name} job` }),
    el('p', { class: 'meta', text: `Started ${formatTime(job.createdAt)} · ${id}` }),
    el('p', {}, 'Status: ', statusBadge(job)),
    el('label', { for: barId, class: 'visually-hidden', text: `Progress of ${name} job` }),
    el('progress', { id: barId, max: '100', value: String(pct) }),
    el('p', { class: 'meta', text: `${pct}% · ${job.currentStep || 'Waiting in the queue'}${eta ? ` · ${eta} left` : ''}` }),
    job.error ? el('p', { class: 'job-error', text: `Error: ${job.error}` }) : null,
    actions);
}

function renderCounts(counts) {
  const c = counts || {};
  $('counts').replaceChildren(...STATUSES.map((s) =>
    el('li', { testid: `count-${s}` }, el('span', { class: 'count', text: String(c[s] || 0) }), ` ${s}`)));
}

function render() {
  const focused = document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.testid : null;
  $('job-list').replaceChildren(...jobs.map(card));
  $('list-status').textContent = jobs.length ? `Showing ${jobs.length} job${jobs.length === 1 ? '' : 's'}.` : 'No jobs match these filters.';
  $('more-button').hidden = !cursor;
  if (focused) {
    const again = document.querySelector(`#job-list [data-testid="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
}

async function loadPage() {
  const data = await api.get(query());
  jobs = data.jobs || [];
  cursor = data.nextCursor || null;
  renderCounts(data.counts);
  render();
  return data;
}

function refresh() {
  if (poller) poller.stop();
  clearSlot($('page-slot'));
  poller = poll({
    load: loadPage,
    key: (d) => JSON.stringify((d.jobs || []).map((j) => [j.jobId, j.status, j.progress])),
    onData: () => {},
    done: () => !jobs.some((j) => LIVE.includes(j.status)),
    onError: (err) => {
      showError($('page-slot'), err, refresh);
      return false;
    },
  });
}

async function loadMore() {
  try {
    const data = await api.get(query(cursor));
    jobs = jobs.concat(data.jobs || []);
    cursor = data.nextCursor || null;
    render();
  } catch (err) {
    showError($('page-slot'), err, loadMore);
  }
}

/* ---- actions ---- */

function askCancel(id, button) {
  cancelTarget = id;
  returnFocus = button.dataset.testid;
  $('cancel-dialog').showModal();
  $('keep-job').focus();
}

function closeDialog() {
  $('cancel-dialog').close();
}

function restoreFocus() {
  const target = returnFocus && document.querySelector(`[data-testid="${CSS.escape(returnFocus)}"]`);
  (target || $('list-heading')).focus();
}

async function confirmCancel() {
  const id = cancelTarget;
  cancelTarget = null;
  closeDialog();
  try {
    await api.post(`/api/jobs/${encodeURIComponent(id)}/cancel`);
  } catch (err) {
    showError($('page-slot'), err, refresh);
  }
  returnFocus = `retry-job-${id}`;
  await reloadOnce();
  restoreFocus();
}

async function retry(id) {
  clearSlot($('page-slot'));
  try {
    await api.post(`/api/jobs/${encodeURIComponent(id)}/retry`);
  } catch (err) {
    showError($('page-slot'), err, () => retry(id));
  }
  refresh();
}

async function reloadOnce() {
  try {
    await loadPage();
  } catch (err) {
    showError($('page-slot'), err, refresh);
  }
  if (jobs.some((j) => LIVE.includes(j.status))) refresh();
}

function start() {
  initHeader();
  loadHealth();
  if (!getToken()) {
    const box = el('div', { class: 'notice', role: 'status', testid: 'signin-required' },
      el('p', {}, 'Please sign in to see your jobs. ', el('a', { href: signInHref(), text: 'Sign in' })));
    $('page-slot').replaceChildren(box);
    renderCounts({});
    $('list-status').textContent = 'Sign in to see your jobs.';
    return;
  }
  $('status-filter').addEventListener('change', refresh);
  $('type-filter').addEventListener('change', refresh);
  $('refresh-button').addEventListener('click', () => {
    loadHealth();
    refresh();
  });
  $('more-button').addEventListener('click', loadMore);
  $('confirm-cancel').addEventListener('click', confirmCancel);
  $('keep-job').addEventListener('click', closeDialog);
  $('cancel-dialog').addEventListener('close', () => {
    if (cancelTarget) restoreFocus();
    cancelTarget = null;
  });
  refresh();
}

start();
