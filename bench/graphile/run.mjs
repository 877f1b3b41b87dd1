// bench/graphile/run.mjs: the graphile-worker side of bench/queue.sh,
// through graphile-worker's public API only (run, runMigrations, Logger).
//
//   node run.mjs migrate
//       Installs graphile-worker's schema (graphile_worker) in the database.
//   node run.mjs drain N CONCURRENCY MODE
//       Runs a worker with a no-op task until N jobs (inserted beforehand,
//       by SQL) are done; prints "jobs=N seconds=S", the time from the
//       first task start to the Nth task end.
//   node run.mjs serve CONCURRENCY MODE LATENCY_FILE
//       Runs a worker until SIGTERM.  SIGUSR1 starts a counting window,
//       SIGUSR2 ends it and prints "processed=N seconds=S".  A job whose
//       payload has "t" (epoch seconds of its insert, PostgreSQL's now())
//       adds the delay from t to its task start, in ms, to LATENCY_FILE
//       (one line per job, "DELAY_MS T", written at SIGTERM).  At SIGTERM
//       it prints "jobs=N first=MS last=MS": the tasks run and the epoch
//       ms of the first task's start and the last task's end, so that
//       several processes draining one backlog can be timed together.
//
// MODE "batch" turns graphile-worker's batching on (localQueue of 500
// jobs, batched completions and failures with no added delay); "default"
// leaves its defaults.  The database is DATABASE_URL.
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Logger, run, runMigrations } from "graphile-worker";

const connectionString = process.env.DATABASE_URL;
if (!connectionString) {
  console.error("run.mjs: DATABASE_URL is not set");
  process.exit(64);
}

// Warnings and errors only, on stderr: stdout carries the results.
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") {
    console.error(`graphile-worker ${level}: ${message}`);
  }
});

const nowMs = () => performance.timeOrigin + performance.now();

function options(concurrency, mode) {
  const worker = {};
  if (mode === "batch") {
    worker.localQueue = { size: 500 };
    worker.completeJobBatchDelay = 0;
    worker.failJobBatchDelay = 0;
  } else if (mode !== "default") {
    throw new Error(`unknown mode ${mode}`);
  }
  return {
    connectionString,
    concurrency,
    maxPoolSize: concurrency + 2,
    noHandleSignals: true,
    logger,
    preset: { worker },
  };
}

function positive(s, what) {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${what} must be a positive integer, not ${s}`);
  }
  return n;
}

async function drain(n, concurrency, mode) {
  let started = 0;
  let done = 0;
  let t0 = 0;
  let finish;
  const finished = new Promise((resolve) => {
    finish = resolve;
  });
  const runner = await run({
    ...options(concurrency, mode),
    taskList: {
      noop: async () => {
        if (started++ === 0) t0 = nowMs();
        if (++done === n) finish();
      },
    },
  });
  await finished;
  // The last batch of completions is written during stop(): the time
  // ends when it is, as ours ends at its last completion.
  await runner.stop();
  const t1 = nowMs();
  console.log(`jobs=${n} seconds=${((t1 - t0) / 1000).toFixed(3)}`);
}

async function serve(concurrency, mode, latencyFile) {
  let done = 0;
  let window = null;
  let first = 0;
  let last = 0;
  const lat = [];
  const runner = await run({
    ...options(concurrency, mode),
    taskList: {
      noop: async (payload) => {
        const t = nowMs();
        if (done === 0) first = t;
        if (payload && typeof payload.t === "number") {
          lat.push(`${(t - payload.t * 1000).toFixed(3)} ${payload.t}`);
        }
        done++;
        last = nowMs();
      },
    },
  });
  process.on("SIGUSR1", () => {
    window = { n: done, t: nowMs() };
  });
  process.on("SIGUSR2", () => {
    if (!window) return;
    const secs = (nowMs() - window.t) / 1000;
    console.log(`processed=${done - window.n} seconds=${secs.toFixed(3)}`);
  });
  await new Promise((resolve) => process.once("SIGTERM", resolve));
  await runner.stop();
  console.log(`jobs=${done} first=${first.toFixed(3)} last=${last.toFixed(3)}`);
  writeFileSync(latencyFile, lat.length ? lat.join("\n") + "\n" : "");
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === "migrate" && args.length === 0) {
    await runMigrations({ connectionString, logger });
  } else if (cmd === "drain" && args.length === 3) {
    await drain(positive(args[0], "N"), positive(args[1], "CONCURRENCY"), args[2]);
  } else if (cmd === "serve" && args.length === 3) {
    await serve(positive(args[0], "CONCURRENCY"), args[1], args[2]);
  } else {
    console.error(
      "usage: run.mjs migrate | drain N CONCURRENCY MODE | serve CONCURRENCY MODE LATENCY_FILE",
    );
    process.exit(64);
  }
}

main().catch((err) => {
  console.error(`run.mjs: ${err.stack || err}`);
  process.exit(1);
});
