/*
 * status.js: the progress page of one job, /jobs/status/{jobId}.
 *
 * Design: the id comes from the path. GET /api/jobs/{id} tells the job's
 * type; from then on the shared tracker polls the typed status route with
 * backoff until the job ends (failed jobs get retry-button, timed-out ones
 * restart-button). A finished job links to its storybook, or shows its
 * picture for cartoon and illustration jobs.
 */
import { api } from './api.js';
import { el, showError, initHeader, TYPE_NAMES, formatTime } from './ui.js';
import { createTracker } from './tracker.js';

const $ = (id) => document.getElementById(id);
const jobId = decodeURIComponent(location.pathname.split('/').pop() || '');

function showResult(job) {
  const result = job.result || {};
  const box = $('result');
  if (result.storybook_id) {
    box.replaceChildren(el('p', { class: 'notice notice-ok', role: 'status' }, 'The storybook is ready. ',
      el('a', { href: `/storybook/${encodeURIComponent(result.storybook_id)}`, testid: 'storybook-link', text: 'Read the storybook' })));
  } else if (result.url) {
    box.replaceChildren(el('p', { role: 'status', text: 'The picture is ready.' }),
      el('img', { src: result.url, class: 'preview', alt: 'The finished picture of this job' }));
  } else {
    box.replaceChildren(el('p', { role: 'status', text: 'This job is complete.' }));
  }
}

const tracker = createTracker($('tracker'), { onComplete: showResult });

async function start() {
  initHeader();
  try {
    const job = await api.get(`/api/jobs/${encodeURIComponent(jobId)}`);
    const name = TYPE_NAMES[job.type] || job.type;
    $('job-summary').textContent = `${name} job ${jobId}, started ${formatTime(job.createdAt)}.`;
    document.title = `${name} job progress · storyjobs`;
    tracker.track(job.type, jobId);
  } catch (err) {
    $('job-summary').textContent = `Job ${jobId}`;
    showError($('page-slot'), err, start);
  }
}

start();
