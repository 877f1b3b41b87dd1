// The browser suite: the pages of web/ in Debian's Chromium (driven by
// playwright-core) against the throwaway stack of tests/integration/run.sh,
// which passes BASE_URL, DATABASE_URL, WORKER_BIN, FAKE_UPSTREAM,
// STORYJOBSCTL, SJ_PGBIN, SJ_PG_DATA, SJ_PG_LOG, ARTIFACT_DIR and the
// stack's settings.
//
// DESIGN
// Scenarios (in this order): security headers and asset caching; log in;
// ?next= after logging in never leaves the site;
// the testing guide's three flows into /create, each as the guide writes
// it (its selectors and actions, in its order): the one-shot storybook
// (signed out, no Next), auto-story, and the step-by-step one with Next;
// the form's validation, keyboard and step links; a book from a real photograph read page by page (its pictures load, its
// captions are sentences, each page kept as a screenshot); cancel a running
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
	jobStatus, pgRunning, pgStart, pgStop, PHOTO, realPhoto, shot, shotOf, shots, startFake, startJob,
	startWorker, stopAll, stopProc, tempPng, tid, vis, waitFor, waitJob, watchApi, watchPage, writeAxeReport,
} from './lib.mjs';

// The guide's story (testing-guide.md), and a longer one of nine sentences,
// one of them a quotation, for the book that is read page by page.
// The first step of a storybook started with its story and no pages.
const PLAN_STEP = 'Planning the scenes of the story';
const GUIDE_STORY = 'Once upon a time, there was a brave hero who embarked on an amazing adventure through magical lands.';
const STORY = 'Once upon a time, a little fox named Pip left her den at dawn to find the lost star of the ' +
	'forest. She crossed the cold river on seven stepping stones. On the far bank she met an old owl who ' +
	'knew every path in the wood. "Follow the brook until it sings, and then look up!" said the owl. ' +
	'Pip followed the brook past the mossy rocks and the sleeping bears. When the water began to sing ' +
	'over a little waterfall, she looked up. There was the star, caught in the branches of the tallest ' +
	'pine! Pip climbed the pine, freed the star and carried it home. That night the whole forest ' +
	'glowed, and Pip fell asleep smiling.';

const S = {
	stamp: Date.now().toString(36),
	user: null, // {email, password, token}
	ctx: null, // the signed-in browser context
	png: null, // {file, dir, bytes}: a drawn PNG (uploaded through the API)
	photo: null, // {file, dir, bytes}: the real photograph (the guide's test-character.jpg)
	photoBook: null, // the book of the read-page-by-page scenario
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

const sel = (id) => `[data-testid="${id}"]`;

// next(page, key): the guide's click on next-button, checking what a
// keyboard or screen-reader user gets: one Next button on screen, and
// afterwards the step `key` is the current one and its heading has focus.
async function next(page, key) {
	const n = await vis(page, 'next-button').count();
	if (n !== 1) throw new Error(`${n} next-buttons on screen, want 1`);
	await page.click(sel('next-button'));
	await waitFor(() => page.evaluate((k) => {
		const s = document.querySelector(`section.step[data-step="${k}"]`);
		const current = document.querySelector('.step-list [aria-current="step"]');
		return Boolean(s && s.classList.contains('step-current') && document.activeElement === s.querySelector('h2') &&
			current && current.getAttribute('href') === `#${s.id}`);
	}, key), `Next to move to the ${key} step and focus its heading`, 10000);
}

// checkCartoonSent(seen, [[type, field]...], shown): the page sent the
// cartoon it had made (not the upload) as the character of each job; when
// `shown` is given, that is the cartoon the page showed.
function checkCartoonSent(seen, pairs, shown) {
	const cartoon = seen.cartoons.at(-1);
	if (!cartoon) throw new Error('the page never read a completed cartoon');
	if (seen.uploads.includes(cartoon)) throw new Error('the cartoon URL is the upload URL');
	if (shown && new URL(shown).pathname !== new URL(cartoon, env.base).pathname)
		throw new Error(`the page showed ${shown}, the cartoonize job made ${cartoon}`);
	for (const [type, field] of pairs) {
		const start = seen.starts.filter((x) => x.type === type).at(-1);
		if (!start) throw new Error(`the page started no ${type} job`);
		if (start.body?.[field] !== cartoon)
			throw new Error(`the ${type} job's ${field} is ${start.body?.[field]}, want the cartoon ${cartoon} ` +
				`(uploads: ${seen.uploads.join(', ')})`);
	}
}

// checkOneBookStart(seen): /create made the typed story's book with one
// storybook start carrying the story and no pages (the server plans the
// scenes), and started no scenes job of its own; the book is drawn in the
// style its cartoon was.
function checkOneBookStart(seen) {
	const books = seen.starts.filter((x) => x.type === 'storybook');
	if (seen.starts.some((x) => x.type === 'scenes')) throw new Error('the page started a scenes job');
	if (books.length !== 1) throw new Error(`the page started ${books.length} storybook jobs, want 1`);
	if (books[0].body?.story !== GUIDE_STORY || 'pages' in (books[0].body ?? {}))
		throw new Error(`the storybook start is not the story without pages: ${JSON.stringify(books[0].body)}`);
	const cartoon = seen.starts.find((x) => x.type === 'cartoonize');
	if (!cartoon?.body?.style || books[0].body.style !== cartoon.body.style)
		throw new Error(`the book's style ${books[0].body.style} is not its cartoon's ${cartoon?.body?.style}`);
}

// readBook(page, what, {shots, sentences}): the finished book as a reader
// sees it. Every page of the book shows at least one picture, and every
// picture on it has loaded (each page is scrolled to, as lazy pictures
// load only then); with `sentences`, every scene caption ends a sentence
// (. ! or ?, maybe followed by a closing quote); with `shots`, each page
// is saved as its own screenshot. {pages, captions, files}.
async function readBook(page, what, opts = {}) {
	const content = await expectVisible(page, 'storybook-content', 15000);
	await expectText(content, /\S/, `${what}: storybook-content is not empty`, 10000);
	const pages = content.locator('section.book-page');
	const n = await waitFor(() => pages.count(), `${what}: pages in the book`, 10000);
	const files = [], captions = [];
	for (let i = 0; i < n; i++) {
		const p = pages.nth(i);
		await p.scrollIntoViewIfNeeded();
		const imgs = await imagesLoaded(p, `${what}: page ${i + 1}`, 20000);
		if (imgs < 1) throw new Error(`${what}: page ${i + 1} shows no picture`);
		captions.push(...(await p.locator('figcaption').allInnerTexts()).map((c) => ({ page: i + 1, text: c.trim() })));
		if (opts.shots) files.push(await shotOf(p, `${opts.shots}-page-${i + 1}`));
	}
	if (opts.onPages) opts.onPages(files);
	if (opts.sentences) {
		const cut = captions.filter((c) => !/[.!?]["'\u201d\u2019]?$/.test(c.text));
		if (!captions.length) throw new Error(`${what}: no scene captions`);
		if (cut.length)
			throw new Error(`${what}: ${cut.length} of ${captions.length} captions do not end a sentence: ` +
				cut.map((c) => `page ${c.page}: ${JSON.stringify(c.text)}`).join('; '));
	}
	return { pages: n, captions, files };
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

// ?next= after signing in: a page of this site is kept with its query and
// fragment; anything that resolves elsewhere (as the browser parses it:
// a tab, a backslash, "//", a scheme, dot segments) goes to /jobs.
// Requests to any other origin are refused, so nothing leaves the host.
scenario('log in: ?next= never leaves the site', 60000, async (t) => {
	const base = new URL(env.base);
	const hostile = ['/%09/evil.example', '//evil.example', '/%5Cevil.example', '%5C%5Cevil.example',
		'https://evil.example/', 'javascript:alert(1)', `http://${base.hostname}.evil.example:${base.port}/`];
	const cases = hostile.map((q) => [q, '/jobs']).concat([
		['/jobs%3Fstatus%3Dfailed%23top', '/jobs?status=failed#top'],
		// a path of this site that reads "//evil.example" once its dot
		// segment is gone: followed as the absolute URL it is (the 404 page)
		['/.//evil.example', '//evil.example'],
	]);
	for (const [query, want] of cases) {
		const ctx = await S.browser.newContext({ viewport: { width: 1280, height: 900 } });
		await ctx.route((u) => u.origin !== base.origin, (r) => r.abort());
		try {
			const page = await t.page(ctx);
			await page.goto(`${env.base}/auth?next=${query}`);
			await signIn(page, S.user.password);
			await waitFor(() => new URL(page.url()).pathname !== '/auth', `leaving /auth (next=${query})`, 15000);
			const at = new URL(page.url());
			if (at.origin !== base.origin || at.pathname + at.search + at.hash !== want)
				throw new Error(`next=${query} led to ${page.url()}, want ${want} on ${base.origin}`);
		} finally {
			await ctx.close();
		}
	}
});

// The testing guide's three ways into /create (testing-guide.md,
// "complete storybook generation workflow" and "auto-story generation
// workflow" of its integration tests, "user can create a storybook" of its
// user acceptance tests), each with the guide's selectors and actions in
// the guide's order. The suite adds only observations between them
// (screenshots, axe scans, what the page sent to the API); the guide's
// fixture tests/fixtures/test-character.jpg is the real photograph of
// realPhoto(). The guide's integration tests do not sign in, so the first
// runs signed out (auto-story needs a login, so the second runs signed in).

scenario('complete storybook generation workflow (guide: integration, signed out)', 150000, async (t) => {
	await localWorker();
	const page = await t.page(S.anon);
	const seen = watchApi(page);
	await page.goto(`${env.base}/create`);
	await page.fill(sel('story-title'), 'Test Adventure');
	await page.fill(sel('story-content'), GUIDE_STORY);
	const fileInput = page.locator(sel('character-image-upload'));
	await fileInput.setInputFiles(S.photo.file);
	await page.click(sel('audience-children'));
	await axeScan(page, 'create: filled in without Next');
	await shot(page, 'guide-create-filled');
	await page.click(sel('create-storybook-button'));
	await expectVisible(page, 'job-progress', 5000);
	await shot(page, 'guide-create-progress');
	await expectVisible(page, 'storybook-completed', 120000);
	await expectText(tid(page, 'storybook-title'), 'Test Adventure', 'storybook-title', 5000);
	await shot(page, 'guide-create-book');
	checkCartoonSent(seen, [['storybook', 'characterImage']]);
	checkOneBookStart(seen);
	await readBook(page, 'the guide\'s storybook');
});

scenario('auto-story generation workflow (guide: integration)', 150000, async (t) => {
	await localWorker();
	const page = await t.page();
	const seen = watchApi(page);
	await page.goto(`${env.base}/create`);
	await page.click(sel('auto-story-mode'));
	const fileInput = page.locator(sel('character-image-upload'));
	await fileInput.setInputFiles(S.photo.file);
	await page.click(sel('genre-adventure'));
	await page.click(sel('audience-children'));
	await axeScan(page, 'create: auto-story filled in');
	await shot(page, 'guide-auto-filled');
	await page.click(sel('generate-auto-story'));
	await expectVisible(page, 'auto-story-completed', 120000);
	await expectText(tid(page, 'storybook-content'), /\S/, 'storybook-content is not empty', 10000);
	await shot(page, 'guide-auto-book');
	checkCartoonSent(seen, [['auto-story', 'cartoonImageUrl']]);
	await readBook(page, 'the generated book');
});

scenario('user can create a storybook (guide: user acceptance, step by step)', 150000, async (t) => {
	await localWorker();
	const page = await t.page();
	const seen = watchApi(page);
	await page.goto(`${env.base}/create`);
	await expectVisible(page, 'multi-step-form');
	await axeScan(page, 'create: the form on arrival');
	await shot(page, 'uat-0-form');
	await page.fill(sel('story-title'), 'UAT Test Story');
	await next(page, 'picture');
	const fileInput = page.locator(sel('character-image-upload'));
	await fileInput.setInputFiles(S.photo.file);
	await shot(page, 'uat-1-picture');
	await next(page, 'style');
	await page.click(sel('style-storybook'));
	await next(page, 'cartoon');
	const cartoon = await expectVisible(page, 'cartoonized-image', 60000);
	if ((await imagesLoaded(cartoon, 'cartoonized-image', 30000)) < 1) throw new Error('cartoonized-image shows no picture');
	const shown = await cartoon.evaluate((img) => img.src);
	await axeScan(page, 'create: the cartoon step');
	await shot(page, 'uat-2-cartoon');
	await next(page, 'audience');
	await page.click(sel('audience-children'));
	await next(page, 'story');
	await page.fill(sel('story-content'), GUIDE_STORY);
	await next(page, 'confirm');
	await axeScan(page, 'create: the check-and-create step');
	await shot(page, 'uat-3-confirm');
	await page.click(sel('create-storybook-button'));
	await expectVisible(page, 'job-progress', 5000);
	await expectVisible(page, 'current-step', 5000);
	await shot(page, 'uat-4-progress');
	await expectVisible(page, 'storybook-completed', 120000);
	if (!page.url().includes('/storybook/')) throw new Error(`completed at ${page.url()}, not on /storybook/`);
	checkCartoonSent(seen, [['storybook', 'characterImage']], shown);
	checkOneBookStart(seen);
	S.ids.storybook = new URL(page.url()).pathname.split('/').pop();
	await expectText(tid(page, 'storybook-title'), 'UAT Test Story', 'storybook-title', 5000);
	await readBook(page, 'the step-by-step book');
	await shot(page, 'uat-5-book');
	const jobs = (await userJobs('&type=storybook')).jobs;
	S.ids.storybookJob = jobs.find((j) => j.status === 'completed')?.jobId;
	// the planned book's steps, its plan first: as the page read them while
	// it tracked the job, and as its progress page lists them, all done
	if (seen.steps.storybook?.[0]?.step !== PLAN_STEP)
		throw new Error(`the storybook's steps while tracked: ${JSON.stringify(seen.steps.storybook)}`);
	const status = await goto(t, `/jobs/status/${S.ids.storybookJob}`);
	const steps = await expectVisible(status, 'job-steps', 15000);
	await expectText(steps.locator('li').first(), new RegExp(`^${PLAN_STEP}\\s*\\(done\\)$`), 'job-steps: the first step', 5000);
	const n = await steps.locator('li').count();
	if (n !== 6) throw new Error(`job-steps: ${n} steps, want the plan and the book's 5`);
	await shot(status, 'uat-6-steps');
});

// The form's own guidance, without a job: creating too early names what
// is missing in the step that needs it (which becomes current, its field
// focused); Enter in the title moves on like Next; a step link jumps; the
// auto-story switch drops the title step and renumbers the rest.
scenario('create: what is missing is said where it is; keyboard and step links', 30000, async (t) => {
	const page = await t.page();
	await page.goto(`${env.base}/create`);
	const current = () => page.evaluate(() => document.querySelector('section.step-current')?.dataset.step);
	const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
	await page.click(sel('create-storybook-button'));
	await expectText(await expectVisible(page, 'validation-message'), /title/i, 'creating with nothing filled in');
	if ((await current()) !== 'title' || (await focused()) !== 'title')
		throw new Error(`after creating too early: step ${await current()}, focus on ${await focused()}`);
	await page.keyboard.type('Keyboard Tale');
	await page.keyboard.press('Enter');
	await waitFor(async () => (await current()) === 'picture' && (await focused()) === 'step-picture-h',
		'Enter in the title to move to the picture step', 5000);
	await page.click(sel('create-storybook-button'));
	await expectText(await expectVisible(page, 'validation-message'), /picture/i, 'creating without a picture');
	if ((await focused()) !== 'character-image') throw new Error(`focus on ${await focused()}, not the file input`);
	await shot(page, 'create-missing-picture');
	await page.click('.step-list a[href="#step-story"]');
	await waitFor(async () => (await current()) === 'story' && (await focused()) === 'step-story-h', 'the story step link', 5000);
	await page.click(sel('auto-story-mode'));
	await expectVisible(page, 'generate-auto-story');
	if (await vis(page, 'create-storybook-button').count() || await vis(page, 'story-title').count())
		throw new Error('auto-story still shows the typed story\'s create button or title');
	const heads = await page.locator('section.step:not([hidden]) .step-no').allInnerTexts();
	const links = await page.locator('.step-list li:not([hidden])').count();
	if (heads.length !== 6 || links !== 6 || heads[0].trim() !== 'Step 1 of 6:')
		throw new Error(`auto-story steps: ${JSON.stringify(heads)}, ${links} links`);
	await axeScan(page, 'create: auto-story mode');
	await shot(page, 'create-auto-mode');
});

// A book a reader would judge: a nine-sentence story with a quotation,
// made through /create from the real photograph (the cartoon is its hero)
// for adults, whose page target (8) is near the story's sentence count, so
// a splitter that cuts inside sentences shows; read page by page: every
// page shows a picture that loaded and every caption is whole sentences.
// Each page is kept as a screenshot.
scenario('a book from a real photograph, read page by page', 150000, async (t) => {
	await localWorker();
	const page = await t.page();
	await page.goto(`${env.base}/create`);
	await page.fill(sel('story-title'), `Pip and the Lost Star ${S.stamp}`);
	await page.locator(sel('character-image-upload')).setInputFiles(S.photo.file);
	await page.click(sel('style-storybook'));
	await page.click(sel('audience-adults'));
	await page.fill(sel('story-content'), STORY);
	await page.click(sel('create-storybook-button'));
	await expectVisible(page, 'storybook-completed', 120000);
	await expectText(tid(page, 'storybook-content'), 'Pip', 'the book tells the typed story');
	// The screenshots are kept (and their paths said) before the captions are judged.
	const book = await readBook(page, 'the real-photo book', {
		shots: 'photo-book', sentences: true, onPages: (files) => {
			S.photoBook = { url: page.url(), pages: files };
			console.log(`     the real-photo book: ${page.url()}\n     its pages: ${files.join(' ')}`);
		},
	});
	S.photoBook.captions = book.captions;
	S.photoBook.full = join(env.artifacts, await shot(page, 'photo-book'));
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
	// The dashboard and the form on a phone-sized screen (for the eye; axe too).
	const phone = await S.browser.newContext({
		viewport: { width: 390, height: 844 }, storageState: await S.ctx.storageState(),
	});
	try {
		const p = await goto(t, '/jobs', phone);
		await expectVisible(p, 'job-card', 15000);
		await axeScan(p, 'page jobs (phone)');
		await shot(p, 'page-jobs-phone');
		const c = await goto(t, '/create', phone);
		await expectVisible(c, 'multi-step-form', 15000);
		await axeScan(c, 'page create (phone)');
		await shot(c, 'page-create-phone');
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
	S.photo = await realPhoto();
	console.log(`character photo: ${PHOTO.what}`);
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
		await rm(S.photo.dir, { recursive: true, force: true });
		await writeAxeReport();
	}
	const failed = results.filter((r) => !r.ok);
	await writeFile(join(env.artifacts, 'results.json'),
		JSON.stringify({ results, photo: PHOTO, photoBook: S.photoBook, screenshots: shots }, null, 2) + '\n');
	console.log(`browser suite: ${results.length - failed.length}/${results.length} passed in ` +
		`${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots, axe.json and results.json in ${env.artifacts}`);
	return failed.length ? 1 : 0;
}

main().then((rc) => process.exit(rc), async (e) => {
	console.error(e);
	await stopAll().catch(() => {});
	process.exit(1);
});
