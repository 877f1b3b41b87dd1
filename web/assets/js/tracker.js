/*
 * tracker.js: the live progress panel of one job (create and status pages).
 *
 * Design: createTracker(parent) builds, once, a labelled <progress>
 * (data-testid job-progress), the current step (current-step), the time
 * left, the status word and an error slot. track(type, id) polls
 * GET /api/jobs/{type}/status/{id} until the job ends. A completed job
 * goes to onComplete. A failed one shows its error in words with a button:
 * restart-button under timeout-message for JOB_TIMEOUT, retry-button under
 * error-message otherwise; both POST /api/jobs/{id}/retry and resume
 * tracking. A cancelled job shows a note and a retry button.
 */
import { api } from './api.js';
import { el, explain, showError, formatEta, clearSlot } from './ui.js';
import { poll, isTerminal } from './poll.js';

let counter = 0;

function jobErrorText(job) {
  const msg = job.error || 'No reason was given';
  switch (job.code) {
    case 'EXTERNAL_SERVICE_ERROR':
      return `The picture and story service failed: ${msg}. Trying again usually helps.`;
    case 'INVALID_INPUT':
      return `The job could not use what it was given: ${msg}. Go back and check your answers.`;
    case 'DATABASE_ERROR':
      return `Database error: ${msg}. Please try again in a moment.`;
    default:
      return `The job failed: ${msg}.`;
  }
}

const DEFAULT_IDS = {
  progress: 'job-progress', step: 'current-step', error: 'error-message',
  retry: 'retry-button', timeout: 'timeout-message', restart: 'restart-button',
};

export function createTracker(parent, { onComplete, onUpdate, label = 'Progress', testids = {} } = {}) {
  const ids = { ...DEFAULT_IDS, ...testids };
  counter += 1;
  const barId = `job-progress-${counter}`;
  const bar = el('progress', { id: barId, max: '100', value: '0', testid: ids.progress });
  const step = el('p', { class: 'current-step', testid: ids.step, text: 'Waiting to start…' });
  const status = el('span', { text: 'pending' });
  const eta = el('span', { text: 'calculating…' });
  const slot = el('div', { class: 'slot' });
  const panel = el('div', { class: 'tracker' },
    el('label', { for: barId, class: 'tracker-label' }, label, ' ', el('span', { class: 'percent', text: '0%' })),
    bar,
    el('div', { 'aria-live': 'polite' }, step),
    el('p', { class: 'meta' }, 'Status: ', status, ' · Estimated time left: ', eta),
    slot);
  parent.append(panel);

  let poller = null;
  let current = null;

  function render(job) {
    const pct = Math.max(0, Math.min(100, Number(job.progress) || 0));
    bar.value = pct;
    panel.querySelector('.percent').textContent = `${pct}%`;
    step.textContent = job.currentStep || (job.status === 'pending' ? 'Waiting in the queue' : job.status);
    status.textContent = job.status || 'unknown';
    const left = job.status === 'completed' ? 'none, it is done' : formatEta(job.estimatedTimeRemaining);
    eta.textContent = left || (isTerminal(job) ? 'none' : 'calculating…');
    if (onUpdate) onUpdate(job);
  }

  async function retry() {
    clearSlot(slot);
    step.textContent = 'Asking to try again…';
    try {
      await api.post(`/api/jobs/${encodeURIComponent(current.id)}/retry`);
      track(current.type, current.id);
    } catch (err) {
      showError(slot, err, retry, { box: ids.error, button: ids.retry });
    }
  }

  function renderEnd(job) {
    if (job.status === 'completed') {
      if (onComplete) onComplete(job);
      return;
    }
    if (job.status === 'cancelled') {
      const box = el('div', { class: 'notice', role: 'status' },
        el('p', { text: 'This job was cancelled.' }),
        el('button', { type: 'button', testid: ids.retry, text: 'Start it again', onclick: retry }));
      slot.replaceChildren(box);
      return;
    }
    const timeout = job.code === 'JOB_TIMEOUT';
    const box = el('div', { class: 'notice notice-error', role: 'alert', testid: timeout ? ids.timeout : ids.error },
      el('p', { text: timeout ? 'This job took too long and was stopped. Nothing is lost: restart it and it picks up where it left off.' : jobErrorText(job) }),
      el('button', { type: 'button', testid: timeout ? ids.restart : ids.retry, text: timeout ? 'Restart the job' : 'Try again', onclick: retry }));
    slot.replaceChildren(box);
  }

  function track(type, id) {
    if (poller) poller.stop();
    current = { type, id };
    clearSlot(slot);
    poller = poll({
      load: () => api.get(`/api/jobs/${encodeURIComponent(type)}/status/${encodeURIComponent(id)}`),
      key: (job) => `${job.status}|${job.progress}|${job.currentStep}`,
      onData: (job) => {
        render(job);
        if (isTerminal(job)) renderEnd(job);
      },
      done: isTerminal,
      onError: (err) => {
        const info = explain(err);
        if (info.retry && !info.wait) {
          step.textContent = 'Lost touch with the server, still trying…';
          return true;
        }
        showError(slot, err, () => track(type, id), { box: ids.error, button: ids.retry });
        return false;
      },
    });
  }

  return { panel, track, stop: () => poller && poller.stop(), slot };
}
