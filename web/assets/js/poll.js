/*
 * poll.js: repeat a request with backoff.
 *
 * Design: poll() calls load() once at once, then again after a delay
 * that starts at 1 s and grows by half each time nothing changed, up to
 * 5 s; a change (as judged by key()) resets it to 1 s. It stops for good
 * when done(data) says the job is finished or stop() is called, and
 * pauses while the page is hidden (resuming at once when shown). A failed
 * load is passed to onError; polling goes on (with backoff) only when
 * onError returns true.
 */

export function poll({ load, onData, onError, done, key = JSON.stringify, min = 1000, max = 5000 }) {
  let delay = min;
  let timer = null;
  let stopped = false;
  let running = false;
  let last;

  function schedule() {
    if (stopped || document.hidden) return;
    clearTimeout(timer);
    timer = setTimeout(tick, delay);
  }

  async function tick() {
    if (stopped || running) return;
    running = true;
    try {
      const data = await load();
      if (stopped) return;
      const now = key(data);
      delay = now === last ? Math.min(delay * 1.5, max) : min;
      last = now;
      onData(data);
      if (done && done(data)) stop();
    } catch (err) {
      delay = Math.min(delay * 2, max);
      if (!onError || !onError(err)) stop();
    } finally {
      running = false;
    }
    schedule();
  }

  function onVisibility() {
    if (!document.hidden && !stopped) {
      delay = min;
      tick();
    }
  }

  function stop() {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisibility);
  }

  document.addEventListener('visibilitychange', onVisibility);
  tick();
  return { stop, now: () => { delay = min; tick(); } };
}

export const TERMINAL = ['completed', 'failed', 'cancelled'];

export function isTerminal(job) {
  return Boolean(job) && TERMINAL.includes(job.status);
}
