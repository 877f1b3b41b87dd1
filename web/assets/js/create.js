/*
 * create.js: the multi-step form of /create.
 *
 * Design: one <form> holds seven <section data-step> blocks; only the
 * current one is shown, and one Next button (data-testid next-button) and
 * one Back button move between them after the current step validates.
 * Steps: 1 title, 2 picture (uploaded at once on choice via
 * POST /api/uploads, previewed from a blob: URL), 3 style, 4 cartoon (a
 * cartoonize job started on entering the step, tracked until its picture
 * shows as cartoonized-image), 5 audience, 6 story (typed, or auto-story
 * with a genre), 7 check and create. Creating a typed story runs a scenes
 * job then a storybook job; auto-story runs one auto-story job. Progress
 * shows below the form; when the book is saved the page moves to
 * /storybook/{id}?made=storybook|auto-story, which shows the completion
 * banner.
 */
import { api, getToken } from './api.js';
import { el, explain, showError, clearSlot, initHeader, signInHref } from './ui.js';
import { createTracker } from './tracker.js';

const LAST = 7;
const MAX_BYTES = 10 * 1024 * 1024;
const TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const STYLE_NAMES = {
  storybook: 'Storybook', 'semi-realistic': 'Semi-realistic', 'comic-book': 'Comic book',
  'flat-illustration': 'Flat illustration', anime: 'Anime',
};
const AUDIENCE_NAMES = { children: 'Children', young_adults: 'Young adults', adults: 'Adults' };

const $ = (id) => document.getElementById(id);
const form = $('create-form');
const state = {
  step: 1, uploadUrl: null, uploading: null, uploadError: null, previewUrl: null,
  cartoon: { key: null, url: null, status: null, useOriginal: false }, phase: null, body: null,
};

function value(name) {
  const field = form.elements[name];
  if (!field) return '';
  return (field.value || '').trim();
}

function mode() {
  return value('mode') === 'auto' ? 'auto' : 'manual';
}

/* ---- step display and validation ---- */

function showStep(n, focus = true) {
  state.step = n;
  for (const section of form.querySelectorAll('section[data-step]'))
    section.hidden = Number(section.dataset.step) !== n;
  $('step-count').textContent = `Step ${n} of ${LAST}`;
  $('back-button').hidden = n === 1;
  $('next-button').hidden = n === LAST;
  clearSlot($('step-slot'));
  if (n === 4) startCartoon();
  if (n === LAST) renderSummary();
  if (focus) $(`step${n}-h`).focus();
}

function say(message, field, link) {
  const p = el('p', { class: 'notice notice-error', role: 'alert', testid: 'validation-message', text: message });
  if (link) p.append(' ', link);
  $('step-slot').replaceChildren(p);
  if (field) {
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  }
  return false;
}

async function validate(n) {
  for (const f of form.querySelectorAll('[aria-invalid]')) f.removeAttribute('aria-invalid');
  switch (n) {
    case 1:
      return value('title') ? true : say('Please enter a title for your storybook.', $('title'));
    case 2:
      if (state.uploading) {
        $('upload-status').textContent = 'Finishing the upload…';
        await state.uploading;
      }
      if (state.uploadError) return say(state.uploadError, $('character-image'));
      return state.uploadUrl ? true : say('Please choose a picture of your character.', $('character-image'));
    case 3:
      return value('style') ? true : say('Please pick a drawing style.', $('style-storybook'));
    case 4:
      if (state.cartoon.url || state.cartoon.useOriginal) return true;
      if (state.cartoon.status === 'failed')
        return say('The cartoon picture could not be made. Try again, or use your original picture.');
      return say('The cartoon picture is still being drawn. Please wait until it appears.');
    case 5:
      return value('audience') ? true : say('Please choose who the book is for.', $('audience-children'));
    case 6:
      return validateStory();
    default:
      return true;
  }
}

function validateStory() {
  if (mode() === 'auto') {
    if (!getToken())
      return say('A story written for you needs you to be signed in.', null,
        el('a', { href: signInHref(), text: 'Sign in' }));
    return value('genre') ? true : say('Please choose a genre.', $('genre-adventure'));
  }
  const length = value('story').length;
  if (length >= 50) return true;
  return say(`Please write your story: at least 50 characters (you have ${length}).`, $('story'));
}

/* ---- step 2: upload ---- */

function onFileChosen() {
  const file = $('character-image').files[0];
  state.uploadUrl = null;
  state.uploadError = null;
  state.cartoon.key = null;
  const preview = $('upload-preview');
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  preview.hidden = true;
  if (!file) return;
  if (!TYPES.includes(file.type)) {
    state.uploadError = 'That file is not a PNG, JPEG or WebP picture. Please choose another one.';
    $('upload-status').textContent = state.uploadError;
    return;
  }
  if (file.size > MAX_BYTES) {
    state.uploadError = 'That picture is larger than 10 MB. Please choose a smaller one.';
    $('upload-status').textContent = state.uploadError;
    return;
  }
  state.previewUrl = URL.createObjectURL(file);
  preview.src = state.previewUrl;
  preview.hidden = false;
  $('upload-status').textContent = 'Uploading your picture…';
  state.uploading = api.upload(file).then((res) => {
    state.uploadUrl = res.url;
    $('upload-status').textContent = 'Picture uploaded.';
  }, (err) => {
    state.uploadError = explain(err).text;
    $('upload-status').textContent = `Upload failed: ${state.uploadError} Choose the picture again to retry.`;
  }).finally(() => {
    state.uploading = null;
  });
}

/* ---- step 4: cartoon ---- */

const cartoonTracker = createTracker($('cartoon-tracker'), {
  label: 'Cartoon progress',
  testids: {
    progress: 'cartoonize-progress', step: 'cartoonize-step', error: 'cartoonize-error',
    retry: 'cartoonize-retry', timeout: 'cartoonize-error', restart: 'cartoonize-retry',
  },
  onUpdate: (job) => {
    state.cartoon.status = job.status;
    if (job.status === 'failed' || job.status === 'cancelled') offerOriginal();
  },
  onComplete: (job) => showCartoon(job.result && job.result.url),
});

function offerOriginal() {
  $('cartoon-result').replaceChildren(el('button', {
    type: 'button', testid: 'use-original', text: 'Use my original picture instead',
    onclick: () => {
      state.cartoon.useOriginal = true;
      showStep(5);
    },
  }));
}

function showCartoon(url) {
  if (!url) {
    state.cartoon.status = 'failed';
    offerOriginal();
    return;
  }
  state.cartoon.url = url;
  const style = STYLE_NAMES[value('style')] || value('style');
  $('cartoon-result').replaceChildren(el('img', {
    src: url, class: 'preview', testid: 'cartoonized-image',
    alt: `Your character drawn in the ${style} style`,
  }), el('p', { class: 'meta', role: 'status', text: 'Your cartoon is ready. Press Next to continue.' }));
}

async function startCartoon() {
  const key = `${state.uploadUrl}|${value('style')}|${value('title')}`;
  if (state.cartoon.key === key) return;
  cartoonTracker.stop();
  state.cartoon = { key, url: null, status: 'pending', useOriginal: false };
  $('cartoon-result').replaceChildren();
  clearSlot($('cartoon-slot'));
  try {
    const res = await api.post('/api/jobs/cartoonize/start', {
      prompt: value('title') || 'character portrait', style: value('style'), imageUrl: state.uploadUrl,
    });
    cartoonTracker.track('cartoonize', res.jobId);
  } catch (err) {
    state.cartoon.status = 'failed';
    state.cartoon.key = null;
    showError($('cartoon-slot'), err, startCartoon, { box: 'cartoonize-error', button: 'cartoonize-retry' });
    offerOriginal();
  }
}

/* ---- step 6 and 7 ---- */

function onModeChange() {
  const auto = mode() === 'auto';
  $('manual-fields').hidden = auto;
  $('auto-fields').hidden = !auto;
  $('create-button').hidden = auto;
  $('auto-button').hidden = !auto;
}

function characterImage() {
  return state.cartoon.url || state.uploadUrl;
}

function renderSummary() {
  const rows = [
    ['Title', value('title')],
    ['Style', STYLE_NAMES[value('style')] || ''],
    ['Picture', state.cartoon.url ? 'Cartoon version' : 'Original picture'],
    ['Audience', AUDIENCE_NAMES[value('audience')] || ''],
    ['Story', mode() === 'auto' ? `Written for you: ${value('genre')}` : `${value('story').length} characters, written by you`],
  ];
  $('summary').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

const makeTracker = createTracker($('make-tracker'), {
  onComplete: (job) => nextPhase(job),
});

function setPhase(text, jobId) {
  const phase = $('phase');
  phase.replaceChildren(text);
  if (jobId) {
    phase.append(' ', el('a', { href: `/jobs/status/${encodeURIComponent(jobId)}`, text: 'Follow this job on its own page' }));
  }
}

async function startPhase(type, body) {
  state.phase = type;
  state.body = body;
  clearSlot($('make-slot'));
  setPhase(type === 'scenes' ? 'Part 1 of 2: planning the scenes…' : 'Starting…');
  try {
    const res = await api.post(`/api/jobs/${type}/start`, body);
    const text = { scenes: 'Part 1 of 2: planning the scenes.', storybook: 'Part 2 of 2: drawing and saving the book.', 'auto-story': 'Writing and illustrating your story.' }[type];
    setPhase(text, res.jobId);
    makeTracker.track(type, res.jobId);
  } catch (err) {
    showError($('make-slot'), err, () => startPhase(type, body));
    unlock();
  }
}

function nextPhase(job) {
  const result = job.result || {};
  if (state.phase === 'scenes') {
    const body = { ...state.body, title: value('title'), pages: result.pages || [] };
    startPhase('storybook', body);
    return;
  }
  const made = state.phase === 'auto-story' ? 'auto-story' : 'storybook';
  if (!result.storybook_id) {
    setPhase('The job finished but did not return a storybook. Please try again.');
    unlock();
    return;
  }
  location.assign(`/storybook/${encodeURIComponent(result.storybook_id)}?made=${made}`);
}

function lock() {
  $('create-button').disabled = true;
  $('auto-button').disabled = true;
  $('back-button').hidden = true;
  $('progress-section').hidden = false;
  $('progress-h').focus();
}

function unlock() {
  $('create-button').disabled = false;
  $('auto-button').disabled = false;
  $('back-button').hidden = false;
}

function createManual() {
  lock();
  startPhase('scenes', { story: value('story'), characterImage: characterImage(), audience: value('audience') });
}

function createAuto() {
  lock();
  const style = STYLE_NAMES[value('style')] || 'storybook';
  startPhase('auto-story', {
    genre: value('genre'),
    characterDescription: value('characterDescription') || `${value('title')}, drawn in the ${style} style`,
    cartoonImageUrl: characterImage(),
    audience: value('audience'),
  });
}

/* ---- wiring ---- */

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const from = state.step;
  $('next-button').disabled = true;
  try {
    if (from < LAST && await validate(from) && state.step === from) showStep(from + 1);
  } finally {
    $('next-button').disabled = false;
  }
});
$('back-button').addEventListener('click', () => showStep(Math.max(1, state.step - 1)));
$('character-image').addEventListener('change', onFileChosen);
for (const r of form.querySelectorAll('input[name="mode"]')) r.addEventListener('change', onModeChange);
$('story').addEventListener('input', () => {
  $('story-count').textContent = `${value('story').length} characters`;
});
$('create-button').addEventListener('click', createManual);
$('auto-button').addEventListener('click', createAuto);

initHeader();
$('signin-note').hidden = Boolean(getToken());
onModeChange();
showStep(1, false);
