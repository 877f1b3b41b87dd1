// Harness of the browser suite: the stack's settings, the public API, the
// processes the suite starts itself (workers, the fake upstream,
// PostgreSQL), a PNG maker, a real photograph, a watch on the job starts a
// page sends, screenshots, axe-core scans and page checks.
//
// Everything the suite starts is recorded in `procs` and stopped by pid
// (SIGTERM, then SIGKILL after a grace period) by stopAll(), which the
// runner calls whatever happens.  Only loopback addresses are used.
import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));

// ---- settings ----

function need(name) {
	const v = process.env[name];
	if (!v) throw new Error(`${name} is not set (run through tests/integration/run.sh)`);
	return v;
}

export const env = {
	base: need('BASE_URL').replace(/\/$/, ''),
	databaseUrl: need('DATABASE_URL'),
	worker: need('WORKER_BIN'),
	fake: need('FAKE_UPSTREAM'),
	ctl: need('STORYJOBSCTL'),
	pgbin: need('SJ_PGBIN'),
	pgdata: need('SJ_PG_DATA'),
	pglog: need('SJ_PG_LOG'),
	artifacts: need('ARTIFACT_DIR'),
};

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor(fn, what, ms): polls fn until it returns a truthy value, which
// it returns; throws naming `what` (and the last value or error) on timeout.
export async function waitFor(fn, what, ms = 10000, every = 200) {
	const end = Date.now() + ms;
	let last;
	for (;;) {
		try {
			last = await fn();
			if (last) return last;
		} catch (e) {
			last = e;
		}
		if (Date.now() > end) {
			const why = last instanceof Error ? last.message : JSON.stringify(last);
			throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${why})`);
		}
		await sleep(every);
	}
}

// ---- the public API ----

// api(method, path, opts): one request to the stack; opts.token (Bearer),
// opts.body (JSON), opts.raw + opts.type (raw body).  Returns
// {status, headers, json, text}; never throws on an HTTP status.
export async function api(method, path, opts = {}) {
	const headers = {};
	let body;
	if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
	if (opts.raw) {
		body = opts.raw;
		headers['Content-Type'] = opts.type;
	} else if (opts.body !== undefined) {
		body = JSON.stringify(opts.body);
		headers['Content-Type'] = 'application/json';
	}
	const url = path.startsWith('http') ? path : env.base + path;
	const res = await fetch(url, { method, headers, body, redirect: 'manual' });
	const text = await res.text();
	let json = null;
	try {
		json = JSON.parse(text);
	} catch {
		/* not JSON */
	}
	return { status: res.status, headers: res.headers, json, text };
}

// startJob(type, input, token): starts a job, asserting 200; its id.
export async function startJob(type, input, token) {
	const r = await api('POST', `/api/jobs/${type}/start`, { token, body: input });
	if (r.status !== 200 || !r.json?.jobId)
		throw new Error(`start ${type}: HTTP ${r.status} ${r.text}`);
	return r.json.jobId;
}

export async function jobStatus(id) {
	const r = await api('GET', `/api/jobs/${id}`);
	if (r.status !== 200) throw new Error(`status of ${id}: HTTP ${r.status} ${r.text}`);
	return r.json;
}

// waitJob(id, pred, what, ms): polls the job until pred(status) holds.
export function waitJob(id, pred, what, ms) {
	return waitFor(async () => {
		const s = await jobStatus(id);
		return pred(s) ? s : null;
	}, `job ${id} ${what}`, ms, 250);
}

export async function health() {
	const r = await api('GET', '/api/jobs/health');
	return r.json;
}

// ---- users ----

export function run(cmd, args, input, extraEnv = {}, timeout = 30000) {
	return new Promise((resolve, reject) => {
		const child = execFile(cmd, args, { env: { ...process.env, ...extraEnv }, timeout },
			(err, stdout, stderr) => {
				if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`));
				else resolve(stdout);
			});
		if (input !== undefined) child.stdin.end(input);
	});
}

// addUser(email, password): creates the user with storyjobsctl (`user add
// EMAIL`, the password on stdin) and logs in through the API;
// the Bearer token.
export async function addUser(email, password) {
	await run(env.ctl, ['user', 'add', email], `${password}\n`);
	const r = await api('POST', '/api/auth/login', { body: { email, password } });
	if (r.status !== 200 || !r.json?.token) throw new Error(`login of ${email}: HTTP ${r.status} ${r.text}`);
	return r.json.token;
}

// ---- processes ----

const procs = new Map(); // pid -> {name, child}
let logDir;

async function logFile(name) {
	if (!logDir) {
		logDir = join(env.artifacts, 'logs');
		await mkdir(logDir, { recursive: true });
	}
	const s = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
	await once(s, 'open');
	return s;
}

async function startProc(name, bin, args, extraEnv) {
	const out = await logFile(name);
	const child = spawn(bin, args, {
		env: { ...process.env, ...extraEnv },
		stdio: ['ignore', out, out],
	});
	await once(child, 'spawn');
	procs.set(child.pid, { name, child, out });
	child.once('exit', () => out.end());
	return child;
}

// stopProc(child): SIGTERM by pid, then SIGKILL after `grace` ms.
export async function stopProc(child, grace = 10000) {
	if (!child || !procs.has(child.pid)) return;
	procs.delete(child.pid);
	if (child.exitCode !== null || child.signalCode !== null) return;
	const gone = once(child, 'exit');
	child.kill('SIGTERM');
	const t = setTimeout(() => child.kill('SIGKILL'), grace);
	await gone;
	clearTimeout(t);
}

export async function stopAll() {
	for (const { child } of [...procs.values()].reverse()) await stopProc(child);
}

// startWorker(name, extraEnv): a worker with the stack's settings plus
// extraEnv; waits until the health route sees a live worker.
export async function startWorker(name, extraEnv = {}) {
	const child = await startProc(`worker-${name}`, env.worker, [], extraEnv);
	await waitFor(async () => {
		if (child.exitCode !== null) throw new Error(`worker ${name} exited with ${child.exitCode}`);
		return (await health())?.systemStatus?.worker === 'operational';
	}, `worker ${name} to heartbeat`, 15000);
	return child;
}

// Credentials of the fake upstream (any values; the fake checks them).
export const FAKE_KEY = 'sk-browser-test';
const FAKE_CLOUD = ['browsercloud', '987654321', 'browser-cloud-secret'];

// startFake(): the fake OpenAI/Cloudinary server; {child, base, workerEnv}.
export async function startFake() {
	const dir = await mkdtemp(join(tmpdir(), 'sj-browser-fake.'));
	const pf = join(dir, 'port');
	const child = await startProc('fake-upstream', env.fake, ['--port-file', pf,
		'--api-key', FAKE_KEY, '--cloud-name', FAKE_CLOUD[0], '--cloud-key', FAKE_CLOUD[1],
		'--cloud-secret', FAKE_CLOUD[2]], {});
	const port = await waitFor(async () => {
		if (child.exitCode !== null) throw new Error(`the fake exited with ${child.exitCode}`);
		return parseInt(await readFile(pf, 'utf8'), 10) || null;
	}, 'the fake upstream to listen', 10000, 50);
	await rm(dir, { recursive: true, force: true });
	const base = `http://127.0.0.1:${port}`;
	return {
		child,
		base,
		workerEnv: {
			GENERATION_PROVIDER: 'openai',
			OPENAI_API_KEY: FAKE_KEY,
			OPENAI_BASE_URL: `${base}/v1`,
			STORAGE: 'cloudinary',
			CLOUDINARY_API_BASE: base,
			CLOUDINARY_CLOUD_NAME: FAKE_CLOUD[0],
			CLOUDINARY_API_KEY: FAKE_CLOUD[1],
			CLOUDINARY_API_SECRET: FAKE_CLOUD[2],
			LOCAL_DELAY_MS: '0',
		},
		// script(path, modes, def): queues fault modes for an API path.
		async script(path, modes, def) {
			const body = { path, modes };
			if (def) body.default = def;
			const r = await api('POST', `${base}/_script`, { body });
			if (r.status !== 200) throw new Error(`fake script ${JSON.stringify(body)}: ${r.status} ${r.text}`);
		},
		async calls(prefix) {
			const r = await api('GET', `${base}/_calls`);
			return (r.json?.calls ?? []).filter((c) => !prefix || c.path?.startsWith(prefix));
		},
	};
}

// PostgreSQL of the stack, stopped and started as its owner.
export function pgStop() {
	return run('runuser', ['-u', 'postgres', '--', `${env.pgbin}/pg_ctl`, '-D', env.pgdata,
		'-m', 'fast', '-w', 'stop']);
}
export function pgStart() {
	return run('runuser', ['-u', 'postgres', '--', `${env.pgbin}/pg_ctl`, '-D', env.pgdata,
		'-l', env.pglog, '-w', 'start']);
}
export async function pgRunning() {
	try {
		await run('runuser', ['-u', 'postgres', '--', `${env.pgbin}/pg_ctl`, '-D', env.pgdata, 'status']);
		return true;
	} catch {
		return false;
	}
}

// ---- a real PNG ----

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
	let c = n;
	for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
	return c >>> 0;
});

function crc32(buf) {
	let c = 0xffffffff;
	for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
	const len = Buffer.alloc(4);
	len.writeUInt32BE(data.length);
	const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
	const crc = Buffer.alloc(4);
	crc.writeUInt32BE(crc32(td));
	return Buffer.concat([len, td, crc]);
}

// makePng(w, h): an RGB PNG of a face-like picture (a disc on a gradient).
export function makePng(w = 256, h = 256) {
	const raw = Buffer.alloc((w * 3 + 1) * h);
	for (let y = 0; y < h; y++) {
		const row = y * (w * 3 + 1);
		raw[row] = 0; // filter: none
		for (let x = 0; x < w; x++) {
			const dx = x - w / 2, dy = y - h / 2;
			const inDisc = dx * dx + dy * dy < (w / 3) * (w / 3);
			const p = row + 1 + x * 3;
			raw[p] = inDisc ? 240 : (x * 255) / w;
			raw[p + 1] = inDisc ? 190 : (y * 255) / h;
			raw[p + 2] = inDisc ? 150 : 160;
		}
	}
	const ihdr = Buffer.alloc(13);
	ihdr.writeUInt32BE(w, 0);
	ihdr.writeUInt32BE(h, 4);
	ihdr[8] = 8; // bit depth
	ihdr[9] = 2; // colour type: RGB
	return Buffer.concat([
		Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
		chunk('IHDR', ihdr),
		chunk('IDAT', deflateSync(raw)),
		chunk('IEND', Buffer.alloc(0)),
	]);
}

export async function tempPng() {
	const dir = await mkdtemp(join(tmpdir(), 'sj-browser-png.'));
	const file = join(dir, 'character.png');
	const bytes = makePng();
	await writeFile(file, bytes);
	return { file, dir, bytes };
}

// ---- a real photograph ----
//
// The character of the guide's flows (its tests/fixtures/test-character.jpg)
// is a real photograph, not a drawn one: Grace Hopper's portrait (public
// domain, 512x600 JPEG, 61 KB) that Debian ships as matplotlib's sample
// data in python-matplotlib-data (2.7 MB, arch all, no Python needed).
// ./dev installs the package with the stack's others.

export const PHOTO = {
	pkg: 'python-matplotlib-data',
	path: '/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg',
	what: 'a photograph of Grace Hopper (matplotlib sample data, Debian package python-matplotlib-data)',
};

// realPhoto(): {file, dir, bytes} of the photograph, copied as
// test-character.jpg into a fresh temporary folder.
export async function realPhoto() {
	if (!existsSync(PHOTO.path))
		throw new Error(`${PHOTO.path} is missing: install ${PHOTO.pkg} (./dev test does)`);
	const bytes = await readFile(PHOTO.path);
	if (bytes.length < 10000 || bytes[0] !== 0xff || bytes[1] !== 0xd8 || bytes[2] !== 0xff)
		throw new Error(`${PHOTO.path} is not a JPEG photograph`);
	const dir = await mkdtemp(join(tmpdir(), 'sj-browser-photo.'));
	const file = join(dir, 'test-character.jpg');
	await writeFile(file, bytes);
	return { file, dir, bytes };
}

// ---- what a page asks of the API ----

// watchApi(page): records, without changing anything, the job starts the
// page sends ({type, body}), the upload URLs it gets back and the cartoon
// URLs of completed cartoonize jobs it reads, and the steps of the last
// status of each type it reads (steps[type]).
export function watchApi(page) {
	const seen = { starts: [], uploads: [], cartoons: [], steps: {} };
	page.on('request', (r) => {
		const m = /\/api\/jobs\/([a-z-]+)\/start$/.exec(new URL(r.url()).pathname);
		if (m && r.method() === 'POST') seen.starts.push({ type: m[1], body: r.postDataJSON() });
	});
	page.on('response', async (r) => {
		const path = new URL(r.url()).pathname;
		try {
			const status = /^\/api\/jobs\/([a-z-]+)\/status\//.exec(path);
			if (status && r.status() === 200) seen.steps[status[1]] = (await r.json()).steps;
			if (path === '/api/uploads' && r.status() === 201) seen.uploads.push((await r.json()).url);
			else if (/^\/api\/jobs\/cartoonize\/status\//.test(path) && r.status() === 200) {
				const j = await r.json();
				if (j.status === 'completed' && j.result?.url && !seen.cartoons.includes(j.result.url))
					seen.cartoons.push(j.result.url);
			}
		} catch {
			/* the page went away */
		}
	});
	return seen;
}

// ---- screenshots ----

let shotNo = 0;
export const shots = [];

export async function shot(page, name) {
	const file = `${String(++shotNo).padStart(2, '0')}-${name}.png`;
	await page.screenshot({ path: join(env.artifacts, file), fullPage: true });
	shots.push(file);
	return file;
}

// shotOf(locator, name): a screenshot of one element (a page of a book).
export async function shotOf(loc, name) {
	const file = `${String(++shotNo).padStart(2, '0')}-${name}.png`;
	await loc.screenshot({ path: join(env.artifacts, file) });
	shots.push(file);
	return join(env.artifacts, file);
}

// ---- axe-core ----
//
// axe is evaluated through the DevTools protocol (page.evaluate of its
// source), which the page's Content-Security-Policy does not govern, so
// every page is scanned exactly as served: no CSP bypass, no injected
// <script> element, nothing that changes what the other checks see.

let axeSrc = null;
export const axeReport = {};

// axeScan(page, label): runs axe on the page as it is now; records the
// violations (rule, impact, help, the offending nodes) under label and
// returns them.
export async function axeScan(page, label) {
	const has = await page.evaluate(() => typeof window.axe === 'object');
	axeSrc ??= readFileSync(join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
	if (!has) await page.evaluate(axeSrc);
	const res = await page.evaluate(async () => {
		const r = await window.axe.run(document, { resultTypes: ['violations'] });
		return r.violations.map((v) => ({
			id: v.id,
			impact: v.impact,
			help: v.help,
			helpUrl: v.helpUrl,
			nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
		}));
	});
	axeReport[label] = { url: page.url(), violations: res };
	return res;
}

export async function writeAxeReport() {
	await writeFile(join(env.artifacts, 'axe.json'), JSON.stringify(axeReport, null, 2) + '\n');
}

// ---- page checks ----

// watchPage(page, problems): records Content-Security-Policy refusals and
// uncaught exceptions of the page into problems (the runner fails the
// scenario on any).
export function watchPage(page, problems) {
	page.on('console', (m) => {
		if (m.type() === 'error' && /Content Security Policy/i.test(m.text()))
			problems.push(`CSP violation on ${page.url()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`uncaught exception on ${page.url()}: ${e.message}`));
}

export const tid = (page, id) => page.locator(`[data-testid="${id}"]`);
// The visible element(s) of a testid (steps of a form may keep hidden ones).
export const vis = (page, id) => tid(page, id).filter({ visible: true });

export async function expectVisible(page, id, ms = 10000) {
	await vis(page, id).first().waitFor({ state: 'visible', timeout: ms });
	return vis(page, id).first();
}

// expectText(locator, re, what, ms): waits until the locator's visible text
// matches re (a RegExp or a substring).
export async function expectText(loc, re, what, ms = 10000) {
	const test = typeof re === 'string' ? (s) => s.includes(re) : (s) => re.test(s);
	let last = '';
	try {
		await waitFor(async () => {
			last = (await loc.first().innerText({ timeout: 1000 })) ?? '';
			return test(last);
		}, what, ms);
	} catch (e) {
		throw new Error(`${what}: text ${JSON.stringify(last.slice(0, 300))} does not match ${re}`);
	}
	return last;
}

// imagesLoaded(loc): waits until every <img> under loc has loaded with a
// nonzero natural width; returns how many there are.
export async function imagesLoaded(loc, what, ms = 15000) {
	return waitFor(async () => loc.evaluate((el) => {
		const imgs = el.tagName === 'IMG' ? [el] : [...el.querySelectorAll('img')];
		if (imgs.length === 0) return 0;
		return imgs.every((i) => i.complete && i.naturalWidth > 0) ? imgs.length : 0;
	}), `${what}: every image loaded (naturalWidth > 0)`, ms);
}
