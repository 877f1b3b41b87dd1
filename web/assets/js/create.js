/*
 * create.js: the form of /create, one page that is also a step-by-step flow.
 *
 * Design: one <form> holds the steps as <section class="step"> blocks, all
 * on screen at once, so a person (or a test) may fill them in any order and
 * press the create button at the end. The story mode switch (typed or
 * auto-story) sits above the steps; auto-story has no title step, so the
 * steps are the sections not hidden, numbered "Step n of N" in their
 * headings and in a list of links at the top. One step is the current one
 * (highlighted, aria-current="step" in the list) and the one Back/Next bar
 * (data-testid next-button) sits at its end: Next validates the current
 * step and moves the bar and the focus to the next step's heading, Back to
 * the previous one, so keyboard and screen-reader users still go one step
 * at a time (Enter in a text field is Next). The bar moves only when the
 * current step changes (Next, Back, a step link, creating with a step
 * unanswered), never under a control being clicked; the outline of the
 * current step keeps its width, so nothing else moves.
 * Steps: title; picture (uploaded on choice via POST /api/uploads,
 * previewed from a blob: URL); style (Storybook preselected); cartoon (a
 * cartoonize job starts as soon as the picture is uploaded, again when the
 * style changes, and shows as cartoonized-image); audience; story (typed,
 * or a genre for auto-story); check and create (a summary kept up to date).
 * Creating validates every step and goes to the first one that needs an
 * answer. Then, below the form, one tracker (job-progress) follows the
 * parts in turn: the cartoon, unless it is ready or the original picture
 * was chosen; then one storybook job carrying the typed story (the server
 * plans its scenes, draws and saves the book: closing the tab loses
 * nothing), or one auto-story job. The tracker lists the job's steps as
 * the status route gives them. The books' character picture (characterImage, cartoonImageUrl) is
 * the cartoon's URL whenever the picture was cartoonized, the uploaded one
 * only when the person chose their original picture. When the book is
 * saved the page moves to /storybook/{id}?made=storybook|auto-story, which
 * shows the completion banner.
 */
import { api, getToken } from './api.js';
import { el, explain, showError, clearSlot, initHeader, signInHref } from './ui.js';
import { createTracker } from './tracker.js';

const MAX_BYTES = 10 * 1024 * 1024;
const TYPES = ['image/png', 'image/jpeg', 'image/webp'];
const DEFAULT_STYLE = 'storybook';
/* The auto-story's character when none is described; the story's text names it. */
const DEFAULT_HERO = 'a curious young hero';
const STYLE_NAMES = {
  storybook: 'Storybook', 'semi-realistic': 'Semi-realistic', 'comic-book': 'Comic book',
  'flat-illustration': 'Flat illustration', anime: 'Anime',
};
const AUDIENCE_NAMES = { children: 'Children', young_adults: 'Young adults', adults: 'Adults' };
const GENRE_NAMES = { adventure: 'Adventure', siblings: 'Siblings', bedtime: 'Bedtime', fantasy: 'Fantasy', history: 'History' };

const $ = (id) => document.getElementById(id);
const form = $('create-form');
const state = {
  current: null, uploadUrl: null, uploading: null, uploadError: null, previewUrl: null,
  cartoon: newCartoon(null), busy: false, phase: null, body: null,
};

function newCartoon(key) {
  return { key, url: null, status: null, jobId: null, starting: null, useOriginal: false };
}

function value(name) {
  const field = form.elements[name];
  if (!field) return '';
  return (field.value || '').trim();
}

function mode() {
  return value('mode') === 'auto' ? 'auto' : 'manual';
}

function style() {
  return value('style') || DEFAULT_STYLE;
}

/* ---- the steps ---- */

function steps() {
  return [...form.querySelectorAll('section.step')].filter((s) => !s.hidden);
}

function section(key) {
  return form.querySelector(`section.step[data-step="${key}"]`);
}

function renumber() {
  const list = steps();
  list.forEach((s, i) => {
    s.querySelector('.step-no').textContent = `Step ${i + 1} of ${list.length}: `;
  });
  for (const li of form.querySelectorAll('.step-list li'))
    li.hidden = section(li.dataset.for).hidden;
}

/* goTo(key): makes that step the current one; the Back/Next bar follows. */
function goTo(key, focus = true) {
  const list = steps();
  let i = list.findIndex((s) => s.dataset.step === key);
  if (i < 0) i = 0;
  const target = list[i];
  state.current = target.dataset.step;
  for (const s of form.querySelectorAll('section.step')) s.classList.toggle('step-current', s === target);
  for (const li of form.querySelectorAll('.step-list li')) {
    const a = li.querySelector('a');
    if (li.dataset.for === state.current) a.setAttribute('aria-current', 'step');
    else a.removeAttribute('aria-current');
  }
  target.append($('step-nav'));
  $('back-button').hidden = i === 0;
  $('next-button').hidden = i === list.length - 1;
  clearSlot($('step-slot'));
  if (state.current === 'cartoon') startCartoon();
  if (focus) target.querySelector('h2').focus();
}

/* say(slot, found): shows what a step needs and puts the focus on its field. */
function say(slot, found) {
  const p = el('p', { class: 'notice notice-error', role: 'alert', testid: 'validation-message', text: found.text });
  if (found.link) p.append(' ', found.link);
  slot.replaceChildren(p);
  if (found.field) {
    found.field.setAttribute('aria-invalid', 'true');
    found.field.focus();
  }
}

/* problem(key): what the step still needs, as {text, field?, link?}, or null. */
async function problem(key) {
  switch (key) {
    case 'title':
      return value('title') ? null : { text: 'Please enter a title for your storybook.', field: $('title') };
    case 'picture':
      if (state.uploading) {
        $('upload-status').textContent = 'Finishing the upload…';
        await state.uploading;
      }
      if (state.uploadError) return { text: state.uploadError, field: $('character-image') };
      return state.uploadUrl ? null : { text: 'Please choose a picture of your character.', field: $('character-image') };
    case 'cartoon':
      if (state.cartoon.url || state.cartoon.useOriginal) return null;
      if (!state.uploadUrl && !state.uploading)
        return { text: 'Please choose a picture of your character first.', link: el('a', { href: '#step-picture', text: 'Go to the picture step' }) };
      if (state.cartoon.status === 'failed')
        return { text: 'The cartoon picture could not be made. Try again, or use your original picture.' };
      return { text: 'The cartoon picture is still being drawn. Please wait until it appears.' };
    case 'audience':
      return value('audience') ? null : { text: 'Please choose who the book is for.', field: $('audience-children') };
    case 'story':
      return storyProblem();
    default:
      return null;
  }
}

function storyProblem() {
  if (mode() === 'auto') {
    if (!getToken())
      return { text: 'A story written for you needs you to be signed in.', link: el('a', { href: signInHref(), text: 'Sign in' }) };
    return value('genre') ? null : { text: 'Please choose a genre.', field: $('genre-adventure') };
  }
  const length = value('story').length;
  if (length >= 50) return null;
  return { text: `Please write your story: at least 50 characters (you have ${length}).`, field: $('story') };
}

function clearInvalid() {
  for (const f of form.querySelectorAll('[aria-invalid]')) f.removeAttribute('aria-invalid');
}

async function onNext() {
  const from = state.current;
  clearInvalid();
  const found = await problem(from);
  if (state.current !== from) return;
  if (found) {
    say($('step-slot'), found);
    return;
  }
  const list = steps();
  const i = list.findIndex((s) => s.dataset.step === from);
  if (i + 1 < list.length) goTo(list[i + 1].dataset.step);
}

/* ---- the picture ---- */

function onFileChosen() {
  const file = $('character-image').files[0];
  state.uploadUrl = null;
  state.uploadError = null;
  const preview = $('upload-preview');
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  preview.hidden = true;
  renderSummary();
  if (!file) return;
  let refused = null;
  if (!TYPES.includes(file.type)) refused = 'That file is not a PNG, JPEG or WebP picture. Please choose another one.';
  else if (file.size > MAX_BYTES) refused = 'That picture is larger than 10 MB. Please choose a smaller one.';
  if (refused) {
    state.uploadError = refused;
    $('upload-status').textContent = refused;
    return;
  }
  state.previewUrl = URL.createObjectURL(file);
  preview.src = state.previewUrl;
  preview.hidden = false;
  $('upload-status').textContent = 'Uploading your picture…';
  const mine = api.upload(file).then((res) => {
    if (state.uploading !== mine) return;
    state.uploadUrl = res.url;
    $('upload-status').textContent = 'Picture uploaded.';
    startCartoon();
  }, (err) => {
    if (state.uploading !== mine) return;
    state.uploadError = explain(err).text;
    $('upload-status').textContent = `Upload failed: ${state.uploadError} Choose the picture again to retry.`;
  }).finally(() => {
    if (state.uploading === mine) state.uploading = null;
    renderSummary();
  });
  state.uploading = mine;
}

/* ---- the cartoon ---- */

const cartoonTracker = createTracker($('cartoon-tracker'), {
  label: 'Cartoon progress',
  testids: {
    progress: 'cartoonize-progress', step: 'cartoonize-step', error: 'cartoonize-error',
    retry: 'cartoonize-retry', timeout: 'cartoonize-error', restart: 'cartoonize-retry',
    steps: 'cartoonize-steps',
  },
  onUpdate: (job) => {
    state.cartoon.status = job.status;
    if (job.status === 'failed' || job.status === 'cancelled') offerOriginal($('cartoon-result'));
  },
  onComplete: (job) => showCartoon(job.result && job.result.url),
});

/* offerOriginal(slot, then): a button to go on with the uploaded picture. */
function offerOriginal(slot, then) {
  slot.replaceChildren(el('button', {
    type: 'button', testid: 'use-original', text: 'Use my original picture instead',
    onclick: () => {
      state.cartoon.useOriginal = true;
      renderSummary();
      if (then) then();
      else if (state.current === 'cartoon') onNext();
    },
  }));
}

function showCartoon(url) {
  if (!url) {
    state.cartoon.status = 'failed';
    offerOriginal($('cartoon-result'));
    return;
  }
  state.cartoon.url = url;
  state.cartoon.status = 'completed';
  $('cartoon-result').replaceChildren(el('img', {
    src: url, class: 'preview', testid: 'cartoonized-image',
    alt: `Your character drawn in the ${STYLE_NAMES[style()] || style()} style`,
  }), el('p', { class: 'meta', role: 'status', text: 'Your cartoon is ready.' }));
  renderSummary();
}

/*
 * startCartoon(): starts the cartoonize job for the uploaded picture and
 * style unless one is already under way or done for them; a job for an
 * older picture or style is cancelled. Resolves to the job id, or null
 * when it could not start (the error is shown in the cartoon step).
 */
function startCartoon() {
  if (!state.uploadUrl) return Promise.resolve(null);
  const key = `${state.uploadUrl}|${style()}`;
  const old = state.cartoon;
  if (old.key === key && old.status !== 'failed' && old.status !== 'cancelled') return old.starting;
  cartoonTracker.stop();
  if (old.jobId && (old.status === 'pending' || old.status === 'processing'))
    api.post(`/api/jobs/${encodeURIComponent(old.jobId)}/cancel`).catch(() => {});
  const c = newCartoon(key);
  c.status = 'pending';
  state.cartoon = c;
  $('cartoon-result').replaceChildren();
  clearSlot($('cartoon-slot'));
  $('cartoon-tracker').hidden = false;
  renderSummary();
  c.starting = api.post('/api/jobs/cartoonize/start', {
    prompt: value('title') || 'the hero of a picture book', style: style(), imageUrl: state.uploadUrl,
  }).then((res) => {
    c.jobId = res.jobId;
    if (state.cartoon === c) cartoonTracker.track('cartoonize', res.jobId);
    return res.jobId;
  }, (err) => {
    c.status = 'failed';
    if (state.cartoon === c) {
      showError($('cartoon-slot'), err, startCartoon, { box: 'cartoonize-error', button: 'cartoonize-retry' });
      offerOriginal($('cartoon-result'));
    }
    return null;
  });
  return c.starting;
}

/* ---- mode and summary ---- */

function onModeChange() {
  const auto = mode() === 'auto';
  $('manual-fields').hidden = auto;
  $('auto-fields').hidden = !auto;
  $('create-button').hidden = auto;
  $('auto-button').hidden = !auto;
  section('title').hidden = auto;
  renumber();
  if (state.current && section(state.current).hidden) goTo(steps()[0].dataset.step, false);
  else if (state.current) goTo(state.current, false);
  renderSummary();
}

/* The book's character picture: the cartoon, unless the original was chosen. */
function characterImage() {
  return state.cartoon.useOriginal ? state.uploadUrl : state.cartoon.url || state.uploadUrl;
}

function pictureText() {
  if (state.uploading) return 'Uploading…';
  if (!state.uploadUrl) return 'Not chosen yet';
  if (state.cartoon.useOriginal) return 'Your original picture';
  if (state.cartoon.url) return 'The cartoon of your picture';
  return 'The cartoon of your picture (being drawn)';
}

function renderSummary() {
  const auto = mode() === 'auto';
  const rows = [
    auto ? ['Title', 'Written for you'] : ['Title', value('title') || 'Not given yet'],
    ['Picture', pictureText()],
    ['Style', STYLE_NAMES[style()] || style()],
    ['Audience', AUDIENCE_NAMES[value('audience')] || 'Not chosen yet'],
    ['Story', auto ? `Written for you: ${GENRE_NAMES[value('genre')] || 'genre not chosen yet'}`
      : `${value('story').length} characters, written by you`],
  ];
  $('summary').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
}

/* ---- making the book ---- */

const makeTracker = createTracker($('make-tracker'), {
  onUpdate: (job) => {
    if (state.phase === 'cartoon' && (job.status === 'failed' || job.status === 'cancelled'))
      offerOriginal($('make-slot'), () => runPart(next('cartoon')));
  },
  onComplete: (job) => nextPhase(job),
});

function setPhase(text, jobId) {
  const phase = $('phase');
  phase.replaceChildren(text);
  if (jobId) {
    phase.append(' ', el('a', { href: `/jobs/status/${encodeURIComponent(jobId)}`, text: 'Follow this job on its own page' }));
  }
}

/* The parts still to run, in order: cartoon?, then storybook or auto-story. */
function plan() {
  const parts = [];
  if (!state.cartoon.url && !state.cartoon.useOriginal) parts.push('cartoon');
  if (mode() === 'auto') parts.push('auto-story');
  else parts.push('storybook');
  return parts;
}

const PART_TEXT = {
  cartoon: 'drawing your character as a cartoon',
  storybook: 'planning, drawing and saving the book',
  'auto-story': 'writing and illustrating your story',
};

function partLabel(type) {
  const i = state.parts.indexOf(type);
  return `Part ${i + 1} of ${state.parts.length}: ${PART_TEXT[type]}`;
}

async function runCartoonPart() {
  state.phase = 'cartoon';
  clearSlot($('make-slot'));
  setPhase(`${partLabel('cartoon')}…`);
  const id = await startCartoon();
  if (!id) {
    setPhase('Your character could not be drawn as a cartoon.');
    offerOriginal($('make-slot'), () => runPart(next('cartoon')));
    $('make-slot').prepend(el('button', { type: 'button', testid: 'retry-button', text: 'Try the cartoon again', onclick: runCartoonPart }), ' ');
    return;
  }
  setPhase(`${partLabel('cartoon')}.`, id);
  makeTracker.track('cartoonize', id);
}

async function startPhase(type, body) {
  state.phase = type;
  state.body = body;
  clearSlot($('make-slot'));
  setPhase(`${partLabel(type)}…`);
  try {
    const res = await api.post(`/api/jobs/${type}/start`, body);
    setPhase(`${partLabel(type)}.`, res.jobId);
    makeTracker.track(type, res.jobId);
  } catch (err) {
    showError($('make-slot'), err, () => startPhase(type, body));
    unlock();
  }
}

function next(type) {
  return state.parts[state.parts.indexOf(type) + 1];
}

function runPart(type) {
  if (type === 'cartoon') {
    runCartoonPart();
  } else if (type === 'storybook') {
    // no pages: the server plans the scenes of the story itself
    startPhase('storybook', {
      title: value('title'),
      story: value('story'),
      characterImage: characterImage(),
      audience: value('audience'),
      style: style(),
    });
  } else if (type === 'auto-story') {
    const described = value('characterDescription');
    startPhase('auto-story', {
      genre: value('genre'),
      characterDescription: described || DEFAULT_HERO,
      cartoonImageUrl: characterImage(),
      audience: value('audience'),
    });
  }
}

function nextPhase(job) {
  const result = job.result || {};
  if (state.phase === 'cartoon') {
    showCartoon(result.url);
    if (!result.url) {
      setPhase('Your character could not be drawn as a cartoon.');
      offerOriginal($('make-slot'), () => runPart(next('cartoon')));
      return;
    }
    runPart(next('cartoon'));
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
  state.busy = true;
  $('create-button').disabled = true;
  $('auto-button').disabled = true;
  $('progress-section').hidden = false;
  $('progress-h').focus();
}

function unlock() {
  state.busy = false;
  $('create-button').disabled = false;
  $('auto-button').disabled = false;
}

/* create(): checks every step, then runs the parts; the button for either mode. */
async function create() {
  if (state.busy) return;
  state.busy = true;
  clearInvalid();
  clearSlot($('confirm-slot'));
  try {
    for (const s of steps()) {
      const key = s.dataset.step;
      if (key === 'cartoon') continue; // made as the first part when not ready
      const found = await problem(key);
      if (found) {
        goTo(key, false);
        say($('step-slot'), found);
        if (!found.field) s.querySelector('h2').focus();
        state.busy = false;
        return;
      }
    }
  } catch (err) {
    state.busy = false;
    showError($('confirm-slot'), err);
    return;
  }
  goTo('confirm', false);
  lock();
  makeTracker.stop();
  state.parts = plan();
  runPart(state.parts[0]);
}

/* ---- wiring ---- */

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('next-button');
  if (button.disabled || button.hidden) return;
  button.disabled = true;
  try {
    await onNext();
  } finally {
    button.disabled = false;
  }
});
$('back-button').addEventListener('click', () => {
  const list = steps();
  const i = list.findIndex((s) => s.dataset.step === state.current);
  goTo(list[Math.max(0, i - 1)].dataset.step);
});
for (const a of form.querySelectorAll('.step-list a')) {
  a.addEventListener('click', (event) => {
    event.preventDefault();
    goTo(a.closest('li').dataset.for);
  });
}
form.addEventListener('click', (event) => {
  const a = event.target.closest('a[href="#step-picture"]');
  if (a && !a.closest('.step-list')) {
    event.preventDefault();
    goTo('picture');
  }
});
$('character-image').addEventListener('change', onFileChosen);
for (const r of form.querySelectorAll('input[name="mode"]')) r.addEventListener('change', onModeChange);
for (const r of form.querySelectorAll('input[name="style"]')) r.addEventListener('change', () => startCartoon());
form.addEventListener('input', renderSummary);
form.addEventListener('change', renderSummary);
$('story').addEventListener('input', () => {
  $('story-count').textContent = `${value('story').length} characters`;
});
$('create-button').addEventListener('click', create);
$('auto-button').addEventListener('click', create);

initHeader();
$('signin-note').hidden = Boolean(getToken());
onModeChange();
goTo(steps()[0].dataset.step, false);
