// The browser suite: the pages of web/ in Debian's Chromium (driven by
// playwright-core) against the throwaway stack of tests/integration/run.sh,
// which passes BASE_URL, DATABASE_URL, WORKER_BIN, FAKE_UPSTREAM,
// STORYJOBSCTL, SJ_PGBIN, SJ_PG_DATA, SJ_PG_LOG, ARTIFACT_DIR and the
// stack's settings.
//
// DESIGN
// Scenarios (in this order): security headers and asset caching; log in;
// create a storybook through every step; auto-story; cancel a running
// job; job history and its filter (and retry from a card); monitoring
// alerts (elevated queue, critical health); errors (upstream failure with
// retry, high error rate, timeout with restart); database down; axe-core
// on every page.
// They run one after another because they share one job queue: each
// starts the workers it needs (a local-provider worker, a slow one, a
// paused one, one on the fake upstream) and, when it ends, its workers
// are stopped and its unfinished jobs cancelled (isolate()).  Each prints its
// name and duration; any failure (an assertion, a Content-Security-Policy
// refusal or an uncaught exception in a page) fails the run.  Screenshots
// of every page and state go to ARTIFACT_DIR (NN-name.png), the axe-core
// results of every scan to ARTIFACT_DIR/axe.json, a summary to
// ARTIFACT_DIR/results.json.  The suite never intercepts the product's
// API: every page talks to the real stack.
//
// axe-core is evaluated through the DevTools protocol (lib.mjs axeScan),
// which the pages' Content-Security-Policy does not govern: no context
// bypasses CSP, so the CSP checks above hold for every page, scans too.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
	api, addUser, axeReport, axeScan, env, expectText, expectVisible, health, imagesLoaded,
	jobStatus, pgRunning, pgStart, pgStop, shot, shots, sleep, startFake, startJob, startWorker,
	stopAll, stopProc, tempPng, tid, vis, waitFor, waitJob, watchPage, writeAxeReport,
} from './lib.mjs';

const STORY = 'Once upon a time, a brave little fox named Pip left her den at dawn to find ' +
	'the lost star of the forest. She crossed the river on stepping stones, asked the old owl ' +
	'for directions, and at last found the star caught in the branches of the tallest pine.';

const S = {
	stamp: Date.now().toString(36),
	user: null, // {email, password, token}
	ctx: null, // the signed-in browser context
	png: null, // {file, dir, bytes}: the character's photo
	workers: {},
	ids: {},
	anonIds: [], // anonymous jobs to cancel when the scenario ends
};

const { chromium } = await import('playwright-core').catch((e) => {
	console.error(`playwright-core is not installed (run 'npm ci' in tests/browser): ${e.message}`);
	process.exit(1);
});

// ---- the runner ----

const scenarios = [];
const scenario = (name, ms, fn) => scenarios.push({ name, ms, fn });

// A scenario's handle: pages it opens are watched and screenshotted on
// failure, and closed at its end.
function handle() {
	const t = { problems: [], pages: [] };
	t.page = async (ctx = S.ctx) => {
		const p = await ctx.newPage();
		watchPage(p, t.problems);
		t.pages.push(p);
		return p;
	};
	return t;
}

async function runScenario(sc, i) {
	const t = handle();
	const t0 = Date.now();
	let err = null, timer;
	try {
		await Promise.race([
			sc.fn(t),
			new Promise((_, rej) => {
				timer = setTimeout(() => rej(new Error(`scenario timed out after ${sc.ms / 1000} s`)), sc.ms);
			}),
		]);
		if (t.problems.length) throw new Error(t.problems.join('\n'));
	} catch (e) {
		err = e;
		for (const [k, p] of t.pages.entries())
			if (!p.isClosed()) await shot(p, `FAILED-${i + 1}-${k}`).catch(() => {});
	} finally {
		clearTimeout(timer);
	}
	for (const p of t.pages) await p.close().catch(() => {});
	await isolate();
	const secs = ((Date.now() - t0) / 1000).toFixed(1);
	console.log(`${err ? 'FAIL' : 'ok  '} ${i + 1}. ${sc.name} (${secs} s)`);
	if (err) console.log(`     ${String(err.stack || err).split('\n').join('\n     ')}`);
	return { name: sc.name, ok: !err, seconds: Number(secs), error: err ? String(err.message || err) : undefined };
}

// isolate(): what a scenario leaves behind must not reach the next one:
// its workers are stopped and its unfinished jobs cancelled.
async function isolate() {
	for (const name of Object.keys(S.workers)) await stopWorker(name).catch(() => {});
	if (!(await pgRunning())) await pgStart().catch(() => {});
	const left = [];
	for (const st of ['pending', 'processing'])
		left.push(...((await userJobs(`&status=${st}`).catch(() => null))?.jobs ?? []).map((j) => j.jobId));
	await cancelJobs(left, S.user?.token).catch(() => {});
	await cancelJobs(S.anonIds.splice(0)).catch(() => {});
}

// ---- helpers of the scenarios ----

// goto(t, path): a page of the signed-in context at path; signs in through
// the form if the page sent us to /auth (as a person would).
async function goto(t, path, ctx = S.ctx) {
	const page = await t.page(ctx);
	await page.goto(env.base + path);
	if (ctx === S.ctx && path !== '/auth' && new URL(page.url()).pathname === '/auth') {
		await signIn(page, S.user.password);
		await waitFor(() => new URL(page.url()).pathname !== '/auth', 'leaving /auth after signing in', 10000);
		if (new URL(page.url()).pathname !== path) await page.goto(env.base + path);
	}
	return page;
}

async function signIn(page, password) {
	await tid(page, 'email-input').fill(S.user.email);
	await tid(page, 'password-input').fill(password);
	await tid(page, 'login-button').click();
}

async function next(page) {
	const b = vis(page, 'next-button');
	await b.first().waitFor({ state: 'visible', timeout: 10000 });
	if ((await b.count()) !== 1) throw new Error(`${await b.count()} visible next-buttons, want 1`);
	await b.click();
}

// shown(page, id): a control of that testid is on screen: the element or
// one of its labels is rendered (a styled label may stand for a radio or
// a file input that is visually hidden).
async function shown(page, id) {
	for (const h of await tid(page, id).elementHandles()) {
		const on = await h.evaluate((el) => {
			const r = (n) => n.getClientRects().length > 0 && getComputedStyle(n).visibility !== 'hidden';
			return r(el) || [...(el.labels ?? [])].some(r);
		}).catch(() => false);
		if (on) return true;
	}
	return false;
}
const fileInputShown = (page) => shown(page, 'character-image-upload');

// choose(page, id): picks a radio/checkbox/button as a person would: by
// clicking it, or its label when the control itself is visually hidden.
async function choose(page, id, ms = 10000) {
	await waitFor(() => shown(page, id), `${id} on screen`, ms);
	const c = vis(page, id);
	if (await c.count()) {
		await c.first().click();
	} else {
		const labelFor = await tid(page, id).first().evaluate((el) => el.id);
		await page.locator(`label[for="${labelFor}"]`).first().click();
	}
}

// cartoonReady(page): waits for the cartoonized picture and checks it loaded.
async function cartoonReady(page) {
	const img = await expectVisible(page, 'cartoonized-image', 60000);
	const n = await imagesLoaded(img, 'cartoonized-image', 30000);
	if (n < 1) throw new Error('cartoonized-image shows no picture');
}

// storybookLink(loc): the href of the link to the finished book in loc.
async function storybookLink(loc) {
	return waitFor(() => loc.evaluate((el) => {
		const a = el.matches('a[href]') ? el : el.querySelector('a[href*="/storybook/"]') ?? el.querySelector('a[href]');
		return a ? a.href : null;
	}), 'a link to the finished storybook', 10000);
}

async function checkBook(page, what, title) {
	if (title) await expectText(tid(page, 'storybook-title'), title, `${what}: storybook-title`, 15000);
	const content = await expectVisible(page, 'storybook-content', 15000);
	await expectText(content, /\S/, `${what}: storybook-content is not empty`, 10000);
	const imgs = await imagesLoaded(content, `${what}: storybook-content`, 20000);
	if (imgs < 1) throw new Error(`${what}: the book shows no illustration`);
	return imgs;
}

// cancelJobs(ids, token): cancels jobs (anonymous ones need no token).
async function cancelJobs(ids, token) {
	for (let i = 0; i < ids.length; i += 10)
		await Promise.all(ids.slice(i, i + 10).map((id) => api('POST', `/api/jobs/${id}/cancel`, { token })));
}

async function startMany(n, type, input, token) {
	const ids = [];
	for (let i = 0; i < n; i += 10) {
		const batch = Array.from({ length: Math.min(10, n - i) }, (_, k) =>
			startJob(type, typeof input === 'function' ? input(i + k) : input, token));
		ids.push(...(await Promise.all(batch)));
	}
	return ids;
}

async function localWorker() {
	S.workers.local ??= await startWorker('local');
}

async function stopWorker(name) {
	await stopProc(S.workers[name]);
	delete S.workers[name];
}

const userJobs = async (q = '') => (await api('GET', `/api/jobs/user?limit=100${q}`, { token: S.user.token })).json;

// ---- scenarios ----

scenario('security headers and asset caching', 15000, async () => {
	const r = await fetch(`${env.base}/jobs`, { redirect: 'manual' });
	const html = await r.text();
	if (r.status !== 200) throw new Error(`/jobs: HTTP ${r.status}`);
	const csp = r.headers.get('content-security-policy') ?? '';
	const scriptSrc = /script-src([^;]*)/.exec(csp)?.[1] ?? '';
	if (!scriptSrc.includes("'self'") || /unsafe-inline|unsafe-eval/.test(scriptSrc))
		throw new Error(`/jobs: Content-Security-Policy without a strict script-src: ${csp}`);
	if (r.headers.get('x-content-type-options') !== 'nosniff')
		throw new Error(`/jobs: X-Content-Type-Options is ${r.headers.get('x-content-type-options')}`);
	if (!r.headers.get('referrer-policy')) throw new Error('/jobs: no Referrer-Policy');
	const asset = /\/assets\/[0-9a-f]{16}\/[^"'\s>]+/.exec(html)?.[0];
	if (!asset) throw new Error('/jobs: no /assets/<version>/ URL in the page');
	const a = await fetch(env.base + asset);
	await a.arrayBuffer();
	const maxAge = Number(/max-age=(\d+)/.exec(a.headers.get('cache-control') ?? '')?.[1] ?? 0);
	if (a.status !== 200 || maxAge < 31536000)
		throw new Error(`${asset}: HTTP ${a.status}, Cache-Control ${a.headers.get('cache-control')}`);
	const root = await fetch(`${env.base}/`, { redirect: 'manual' });
	if (root.status !== 302 || !/\/jobs$/.test(root.headers.get('location') ?? ''))
		throw new Error(`/: HTTP ${root.status} to ${root.headers.get('location')}, want 302 to /jobs`);
	const nf = await fetch(`${env.base}/no-such-page`);
	if (nf.status !== 404 || !/text\/html/.test(nf.headers.get('content-type') ?? ''))
		throw new Error(`/no-such-page: HTTP ${nf.status} ${nf.headers.get('content-type')}, want a 404 page`);
});

scenario('log in (wrong password refused, right one signs in)', 30000, async (t) => {
	const ctx = await S.browser.newContext({ viewport: { width: 1280, height: 900 } });
	const page = await goto(t, '/auth', ctx);
	await expectVisible(page, 'email-input');
	await shot(page, 'auth');
	await signIn(page, 'not-the-password');
	const err = await expectVisible(page, 'error-message', 10000);
	await expectText(err, /\S/, 'wrong password: error-message');
	if (new URL(page.url()).pathname !== '/auth') throw new Error(`a wrong password left /auth for ${page.url()}`);
	await shot(page, 'auth-wrong-password');
	await signIn(page, S.user.password);
	await waitFor(() => new URL(page.url()).pathname !== '/auth', 'leaving /auth after signing in', 15000);
	// Signed in: the job dashboard (which needs a login) shows, no sign-in form.
	if (new URL(page.url()).pathname !== '/jobs') await page.goto(`${env.base}/jobs`);
	await expectVisible(page, 'job-dashboard', 10000);
	if (await vis(page, 'login-button').count()) throw new Error('signed in, yet /jobs shows a login button');
	await shot(page, 'signed-in-jobs');
	await S.ctx.close();
	S.ctx = ctx; // the later scenarios use this signed-in browser
});

scenario('create a storybook through every step to the finished book', 180000, async (t) => {
	await localWorker();
	const title = `Pip and the Lost Star ${S.stamp}`;
	const page = await goto(t, '/create');
	await expectVisible(page, 'multi-step-form');
	// 1. title
	await vis(page, 'story-title').fill(title);
	await axeScan(page, 'create: title step');
	await shot(page, 'create-1-title');
	await next(page);
	// 2. the character's photo
	await waitFor(() => fileInputShown(page), 'the character-image-upload step', 10000);
	await tid(page, 'character-image-upload').setInputFiles(S.png.file);
	await axeScan(page, 'create: upload step');
	await shot(page, 'create-2-upload');
	await next(page);
	// 3. style
	await choose(page, 'style-storybook');
	await axeScan(page, 'create: style step');
	await shot(page, 'create-3-style');
	await next(page);
	// 4. the cartoonized picture, made by a cartoonize job
	await cartoonReady(page);
	await axeScan(page, 'create: cartoon step');
	await shot(page, 'create-4-cartoon');
	await next(page);
	// 5. audience
	await choose(page, 'audience-children');
	await axeScan(page, 'create: audience step');
	await shot(page, 'create-5-audience');
	await next(page);
	// 6. the story, typed
	await (await expectVisible(page, 'story-content')).fill(STORY);
	await axeScan(page, 'create: story step');
	await shot(page, 'create-6-story');
	await next(page);
	// 7. confirm
	const create = await expectVisible(page, 'create-storybook-button');
	await axeScan(page, 'create: confirm step');
	await shot(page, 'create-7-confirm');
	await create.click();
	await expectVisible(page, 'job-progress', 15000);
	const step = await expectVisible(page, 'current-step', 15000);
	await expectText(step, /\S/, 'current-step shows a step');
	await shot(page, 'create-8-progress');
	// Done: the completion notice, on the form or on the book it leads to.
	const done = await expectVisible(page, 'storybook-completed', 120000);
	await axeScan(page, 'create: completed');
	await shot(page, 'create-9-completed');
	if (!new URL(page.url()).pathname.startsWith('/storybook/')) await page.goto(await storybookLink(done));
	if (!/\/storybook\/[A-Za-z0-9_-]+$/.test(new URL(page.url()).pathname))
		throw new Error(`the finished-book link went to ${page.url()}`);
	S.ids.storybook = new URL(page.url()).pathname.split('/').pop();
	await checkBook(page, 'the finished book', title);
	// The typed story is what the book tells.
	await expectText(tid(page, 'storybook-content'), 'Pip', 'the book tells the typed story');
	await shot(page, 'storybook');
	const jobs = (await userJobs('&type=storybook')).jobs;
	S.ids.storybookJob = jobs.find((j) => j.status === 'completed')?.jobId;
});

scenario('auto-story: genre and audience to a generated book', 150000, async (t) => {
	await localWorker();
	const page = await goto(t, '/create');
	await expectVisible(page, 'multi-step-form');
	// Walk the form, doing what each step asks, until generate-auto-story.
	const did = new Set();
	const deadline = Date.now() + 90000;
	const act = async (key, id, fn) => {
		if (did.has(key) || !(await shown(page, id))) return;
		await fn();
		did.add(key);
		await shot(page, `auto-${did.size}-${key}`);
	};
	while (!(await vis(page, 'generate-auto-story').count())) {
		if (Date.now() > deadline) throw new Error(`auto-story: never reached generate-auto-story (did ${[...did]})`);
		await act('title', 'story-title', () => vis(page, 'story-title').fill(`Auto adventure ${S.stamp}`));
		await act('upload', 'character-image-upload', () =>
			tid(page, 'character-image-upload').setInputFiles(S.png.file));
		await act('style', 'style-storybook', () => choose(page, 'style-storybook'));
		await act('cartoon', 'cartoonized-image', () => cartoonReady(page));
		await act('audience', 'audience-children', () => choose(page, 'audience-children'));
		await act('mode', 'auto-story-mode', () => choose(page, 'auto-story-mode'));
		await act('genre', 'genre-adventure', () => choose(page, 'genre-adventure'));
		if (await vis(page, 'generate-auto-story').count()) break;
		const nb = vis(page, 'next-button');
		if ((await nb.count()) === 1 && await nb.isEnabled()) await nb.click();
		await sleep(300);
	}
	for (const need of ['upload', 'mode', 'genre', 'audience'])
		if (!did.has(need)) throw new Error(`auto-story: the form never asked for ${need}`);
	await axeScan(page, 'create: auto-story confirm step');
	await vis(page, 'generate-auto-story').click();
	const done = await expectVisible(page, 'auto-story-completed', 120000);
	await shot(page, 'auto-completed');
	if (!(await vis(page, 'storybook-content').count()) && !new URL(page.url()).pathname.startsWith('/storybook/'))
		await page.goto(await storybookLink(done));
	await checkBook(page, 'the generated book');
	await shot(page, 'auto-book');
});

scenario('cancel a running job from the dashboard', 60000, async (t) => {
	await stopWorker('local');
	// A worker slow enough that the job is still running when we cancel it.
	S.workers.slow = await startWorker('slow', { LOCAL_DELAY_MS: '20000' });
	const id = await startJob('cartoonize', { prompt: `A lighthouse keeper ${S.stamp}`, style: 'storybook' },
		S.user.token);
	S.ids.cancelled = id;
	await waitJob(id, (s) => s.status === 'processing', 'processing', 15000);
	const page = await goto(t, '/jobs');
	await (await expectVisible(page, `cancel-job-${id}`, 10000)).click();
	const confirm = await expectVisible(page, 'confirm-cancel', 5000);
	await axeScan(page, 'jobs: cancel confirmation');
	await shot(page, 'jobs-confirm-cancel');
	await confirm.click();
	await expectText(tid(page, `job-status-${id}`), 'cancelled', `job-status-${id} after cancelling`, 10000);
	const s = await jobStatus(id);
	if (s.status !== 'cancelled') throw new Error(`the API says ${s.status} after the cancel`);
	await shot(page, 'jobs-cancelled');
	await stopWorker('slow');
});

scenario('job history with the status filter', 30000, async (t) => {
	const page = await goto(t, '/jobs');
	await expectVisible(page, 'job-dashboard');
	const cards = tid(page, 'job-card');
	const all = await waitFor(() => cards.count(), 'job-card items', 10000);
	if (!(await tid(page, 'job-status-cancelled').count()))
		throw new Error('the cancelled job is not among the cards');
	await shot(page, 'jobs-all');
	await tid(page, 'status-filter').selectOption('completed');
	const n = await waitFor(async () => {
		const c = await cards.count();
		const done = await tid(page, 'job-status-completed').count();
		return c > 0 && c === done && c < all ? c : null;
	}, 'only completed cards after filtering', 10000);
	const want = (await userJobs('&status=completed')).jobs.length;
	if (n > want) throw new Error(`${n} completed cards, the API has only ${want} completed jobs`);
	await shot(page, 'jobs-filter-completed');
	await tid(page, 'status-filter').selectOption('cancelled');
	await waitFor(async () => {
		const c = await cards.count();
		return c > 0 && c === (await tid(page, 'job-status-cancelled').count()) &&
			(await tid(page, `job-status-${S.ids.cancelled}`).count()) === 1;
	}, 'only cancelled cards, ours among them', 10000);
	await shot(page, 'jobs-filter-cancelled');
	// Try the cancelled job again from its card: it goes back to the queue.
	await tid(page, 'status-filter').selectOption('all');
	await (await expectVisible(page, `retry-job-${S.ids.cancelled}`, 10000)).click();
	await expectText(tid(page, `job-status-${S.ids.cancelled}`), /pending|processing/,
		`job-status-${S.ids.cancelled} after trying again`, 10000);
	await shot(page, 'jobs-retried');
});

scenario('monitoring: elevated queue, then critical health', 90000, async (t) => {
	// A worker that heartbeats but claims nothing: the queue only grows.
	S.workers.paused = await startWorker('paused', { ENABLE_AUTO_PROCESSING: 'false' });
	S.ids.anon = S.anonIds;
	try {
		const input = (i) => ({ prompt: `Queue filler ${S.stamp} ${i}`, style: 'anime' });
		S.ids.anon.push(...await startMany(25, 'cartoonize', input));
		const h = await health();
		if (h.metrics.queueDepth !== 25) throw new Error(`queue depth ${h.metrics.queueDepth}, want 25`);
		let page = await goto(t, '/jobs');
		await expectText(await expectVisible(page, 'queue-alert', 15000), 'Queue depth is elevated', 'queue-alert');
		await axeScan(page, 'jobs: queue alert');
		await shot(page, 'jobs-queue-alert');
		S.ids.anon.push(...await startMany(26, 'cartoonize', (i) => input(25 + i)));
		const h2 = await health();
		if (h2.status !== 'critical') throw new Error(`health is ${h2.status} at depth ${h2.metrics.queueDepth}`);
		await page.reload();
		await expectText(await expectVisible(page, 'system-alert', 15000), 'critical', 'system-alert');
		await axeScan(page, 'jobs: critical alert');
		await shot(page, 'jobs-system-alert-critical');
	} finally {
		await cancelJobs(S.anonIds.splice(0));
		await stopWorker('paused');
	}
	await waitFor(async () => (await health()).metrics.queueDepth === 0, 'an empty queue', 10000);
});

scenario('errors: upstream failure with retry, high error rate, timeout with restart', 150000, async (t) => {
	const fake = await startFake();
	try {
		// Every image call is refused with a 400: a permanent upstream error.
		await fake.script('/v1/images/generations', [], '400');
		// Pictures are stored by the stack (local storage), so pages show
		// them from their own origin, as in production.
		S.workers.fake = await startWorker('fake', {
			...fake.workerEnv, STORAGE: 'local', JOB_STORYBOOK_TIMEOUT_SECONDS: '30',
		});
		const img = (what) => ({ image_prompt: `${what} ${S.stamp}`, character_description: 'a small fox',
			emotion: 'curious', audience: 'children', style: 'storybook' });
		// (a) an API failure: failed with EXTERNAL_SERVICE_ERROR, shown with a retry button
		const bad = await startJob('image-generation', img('A fox the upstream refuses'), S.user.token);
		const st = await waitJob(bad, (s) => s.status === 'failed', 'failed', 20000);
		if (st.code !== 'EXTERNAL_SERVICE_ERROR') throw new Error(`the refused job failed with ${st.code}`);
		const pBad = await goto(t, `/jobs/status/${bad}`);
		await expectText(await expectVisible(pBad, 'error-message', 10000), /\S/, 'error-message of the failed job');
		await expectVisible(pBad, 'retry-button');
		await axeScan(pBad, 'status: failed job');
		await shot(pBad, 'status-failed-retry');
		// (c) a high error rate: failed jobs until the 24 h success rate is under 90 %
		for (let i = 0; (await health()).metrics.successRate >= 90; i++) {
			if (i > 10) throw new Error('the success rate stays at or above 90 %');
			const ids = await startMany(3, 'image-generation', (k) => img(`Refused ${i} ${k}`));
			for (const id of ids) await waitJob(id, (s) => s.status === 'failed', 'failed', 20000);
		}
		const pJobs = await goto(t, '/jobs');
		await expectVisible(pJobs, 'error-rate-alert', 15000);
		await axeScan(pJobs, 'jobs: error-rate alert');
		await shot(pJobs, 'jobs-error-rate-alert');
		// (b) a timeout: each illustration takes 12 s (under the client's
		// 15 s stall limit), so a four-scene storybook outlives its 30 s.
		await fake.script('/v1/images/generations', [], 'delay:12000');
		const up = await api('POST', '/api/uploads', { raw: S.png.bytes, type: 'image/png' });
		if (up.status !== 201) throw new Error(`upload: HTTP ${up.status} ${up.text}`);
		const scenes = ['at the river', 'with the owl', 'in the pine', 'home at night'].map((w, k) => ({
			description: `Pip the fox ${w}`, emotion: 'happy', imagePrompt: `A small fox ${w} ${S.stamp} ${k}`,
		}));
		const slow = await startJob('storybook', {
			title: `Too slow ${S.stamp}`, story: STORY, characterImage: up.json.url, audience: 'children',
			pages: [{ pageNumber: 1, scenes }],
		}, S.user.token);
		const ts = await waitJob(slow, (s) => s.status === 'failed', 'failed by its timeout', 60000);
		if (ts.code !== 'JOB_TIMEOUT') throw new Error(`the slow job failed with ${ts.code}: ${ts.error}`);
		const pSlow = await goto(t, `/jobs/status/${slow}`);
		await expectVisible(pSlow, 'timeout-message', 10000);
		await expectVisible(pSlow, 'restart-button');
		await axeScan(pSlow, 'status: timed-out job');
		await shot(pSlow, 'status-timeout-restart');
		// The upstream recovers: retry and restart both end completed.
		await fake.script('/v1/images/generations', [], 'ok');
		await vis(pBad, 'retry-button').click();
		await vis(pSlow, 'restart-button').click();
		for (const [p, id, what] of [[pBad, bad, 'retried'], [pSlow, slow, 'restarted']]) {
			await waitJob(id, (s) => s.status === 'completed', `${what} to completed`, 30000);
			await expectText(p.locator('main').first(), /completed/i, `the ${what} job's page says completed`, 15000);
			if (await vis(p, 'error-message').count() || await vis(p, 'timeout-message').count())
				throw new Error(`the ${what} job's page still shows its error`);
		}
		await shot(pBad, 'status-retried-completed');
		await shot(pSlow, 'status-restarted-completed');
	} finally {
		await stopWorker('fake');
		await stopProc(fake.child);
	}
});

scenario('database down: the error is shown and retry recovers', 90000, async (t) => {
	await pgStop();
	try {
		const page = await goto(t, '/jobs');
		const err = await expectVisible(page, 'error-message', 20000);
		await expectText(err, /database/i, 'error-message names the database', 10000);
		const retry = await expectVisible(page, 'retry-button');
		await axeScan(page, 'jobs: database error');
		await shot(page, 'jobs-database-error');
		await pgStart();
		await waitFor(async () => (await health())?.systemStatus?.database === 'operational',
			'the database to be back', 20000);
		await retry.click();
		await expectVisible(page, 'job-card', 15000);
		if (await vis(page, 'error-message').count()) throw new Error('the database error stays after retry');
		await shot(page, 'jobs-database-recovered');
	} finally {
		if (!(await pgRunning())) await pgStart();
	}
});

scenario('axe-core: every page, zero violations', 90000, async (t) => {
	const pages = [
		['/auth', S.anon, 'login-button', 'auth'],
		['/auth', S.ctx, null, 'auth (signed in)'], // the account and sign-out side
		['/create', S.ctx, 'multi-step-form', 'create'],
		['/jobs', S.ctx, 'job-card', 'jobs'],
		[`/jobs/status/${S.ids.storybookJob}`, S.ctx, 'job-progress', 'status (completed)'],
		[`/storybook/${S.ids.storybook}`, S.ctx, 'storybook-content', 'storybook'],
	];
	for (const [path, ctx, marker, name] of pages) {
		if (path.includes('undefined')) throw new Error(`no id for ${path} (an earlier scenario failed)`);
		const page = await goto(t, path, ctx);
		if (marker) await expectVisible(page, marker, 15000);
		await page.waitForLoadState('networkidle');
		await axeScan(page, `page ${name}`);
		await shot(page, `page-${name.replace(/[^a-z]+/g, '-').replace(/-$/, '')}`);
	}
	const nf = await goto(t, '/no-such-page', S.anon);
	await nf.waitForLoadState('load');
	await axeScan(nf, 'page 404');
	await shot(nf, 'page-404');
	// The dashboard on a phone-sized screen (for the eye; axe too).
	const phone = await S.browser.newContext({
		viewport: { width: 390, height: 844 }, storageState: await S.ctx.storageState(),
	});
	try {
		const p = await goto(t, '/jobs', phone);
		await expectVisible(p, 'job-card', 15000);
		await axeScan(p, 'page jobs (phone)');
		await shot(p, 'page-jobs-phone');
	} finally {
		await phone.close();
	}
	const bad = Object.entries(axeReport).filter(([, r]) => r.violations.length);
	if (bad.length)
		throw new Error('axe violations:\n' + bad.map(([k, r]) => `  ${k}: ` + r.violations.map((v) =>
			`${v.id} (${v.impact}) ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`).join('; ')).join('\n'));
});

// ---- main ----

async function main() {
	const t0 = Date.now();
	S.png = await tempPng();
	const password = `pw-${S.stamp}-Fox!2026`;
	const email = `browser-${S.stamp}@example.com`;
	S.user = { email, password, token: await addUser(email, password) };
	S.browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
	S.anon = await S.browser.newContext({ viewport: { width: 1280, height: 900 } });
	// Until the login scenario signs in, a context signed in via the form on demand.
	S.ctx = await S.browser.newContext({ viewport: { width: 1280, height: 900 } });
	const results = [];
	try {
		for (const [i, sc] of scenarios.entries()) results.push(await runScenario(sc, i));
	} finally {
		await S.browser.close().catch(() => {});
		await stopAll();
		if (!(await pgRunning())) await pgStart().catch((e) => console.log(`could not restart PostgreSQL: ${e.message}`));
		await rm(S.png.dir, { recursive: true, force: true });
		await writeAxeReport();
	}
	const failed = results.filter((r) => !r.ok);
	await writeFile(join(env.artifacts, 'results.json'), JSON.stringify({ results, screenshots: shots }, null, 2) + '\n');
	console.log(`browser suite: ${results.length - failed.length}/${results.length} passed in ` +
		`${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots, axe.json and results.json in ${env.artifacts}`);
	return failed.length ? 1 : 0;
}

main().then((rc) => process.exit(rc), async (e) => {
	console.error(e);
	await stopAll().catch(() => {});
	process.exit(1);
});
