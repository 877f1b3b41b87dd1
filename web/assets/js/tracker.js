/*
 * tracker.js: the live progress panel of one job (create and status pages).
 *
 * Design: createTracker(parent) builds, once, a labelled <progress>
 * (data-testid job-progress), the current step (current-step), the list of
 * the job's steps from the status route's steps (job-steps: the ones done,
 * the one now with aria-current="step", the ones to come), the time left,
 * the status word and an error slot. track(type, id) polls
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
  steps: 'job-steps',
};

/* Whether the current_step text is the step named name ("{n}/{total}" is any count). */
function isStep(name, text) {
  if (!text) return false;
  const parts = name.split(/\{n\}|\{total\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('\\d+')}$`).test(text);
}

/* The index of the step the job is at: by its text, else by its progress; -1 before the first. */
function stepAt(steps, job) {
  for (let i = steps.length - 1; i >= 0; i -= 1)
    if (isStep(steps[i].step, job.currentStep)) return i;
  let at = -1;
  steps.forEach((s, i) => { if (job.progress >= s.progress && job.status !== 'pending') at = i; });
  return at;
}

/* The words of a step in the list: a count still to come reads as "all". */
function stepText(name, job, current) {
  if (current && job.currentStep) return job.currentStep;
  return name.replace('{n}/{total}', 'all');
}

export function createTracker(parent, { onComplete, onUpdate, label = 'Progress', testids = {} } = {}) {
  const ids = { ...DEFAULT_IDS, ...testids };
  counter += 1;
  const barId = `job-progress-${counter}`;
  const bar = el('progress', { id: barId, max: '100', value: '0', testid: ids.progress });
  const step = el('p', { class: 'current-step', testid: ids.step, text: 'Waiting to start…' });
  const status = el('span', { text: 'pending' });
  const eta = el('span', { text: 'calculating…' });
  const slot = el('div', { class: 'slot' });
  const list = el('ol', { class: 'job-steps', testid: ids.steps, 'aria-label': 'Steps of this job', hidden: '' });
  const panel = el('div', { class: 'tracker' },
    el('label', { for: barId, class: 'tracker-label' }, label, ' ', el('span', { class: 'percent', text: '0%' })),
    bar,
    el('div', { 'aria-live': 'polite' }, step),
    list,
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
    renderSteps(job);
    const left = job.status === 'completed' ? 'none, it is done' : formatEta(job.estimatedTimeRemaining);
    eta.textContent = left || (isTerminal(job) ? 'none' : 'calculating…');
    if (onUpdate) onUpdate(job);
  }

  function renderSteps(job) {
    const steps = Array.isArray(job.steps) ? job.steps : [];
    list.hidden = steps.length === 0;
    const done = job.status === 'completed';
    const at = done ? steps.length : stepAt(steps, job);
    list.replaceChildren(...steps.map((s, i) => {
      const state = i < at || done ? 'done' : (i === at ? 'now' : 'to come');
      const li = el('li', { class: `job-step job-step-${state.replace(' ', '-')}` },
        stepText(s.step, job, i === at && !done), el('span', { class: 'visually-hidden', text: ` (${state})` }));
      if (state === 'now') li.setAttribute('aria-current', 'step');
      return li;
    }));
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
