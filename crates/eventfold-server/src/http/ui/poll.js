// A page's periodic refresh, one load at a time.

/** Runs `load` now and again `everyMs` after each run ends; never two at once.
 * `stop()` resolves once the run in flight (if any) has ended, so a page can
 * delete what it shows without a last refresh asking for it afterwards (the
 * browser reports that 404 as an error even when the page handles it). */
export function poller(load, everyMs) {
  let timer = null;
  let stopped = false;
  let running = Promise.resolve();

  function run() {
    clearTimeout(timer);
    running = running.then(async () => {
      if (stopped) return;
      try {
        await load();
      } finally {
        clearTimeout(timer);
        if (!stopped) timer = setTimeout(run, everyMs);
      }
    }).catch(() => {});
    return running;
  }

  return {
    /** Loads now (after the run in flight), then goes on as before. */
    now: run,
    /** Stops; resolves when no load is running. */
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
    /** Starts again after `stop()`. */
    resume() {
      stopped = false;
      return run();
    },
    get stopped() {
      return stopped;
    },
  };
}
