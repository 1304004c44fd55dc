// The benches' open-loop pacer.
'use strict';
const { performance } = require('node:perf_hooks');
const { clearInterval, setInterval } = require('node:timers');

/**
 * Calls `send(due)` `total` times, call i at start + i/rate (performance.now() time, `due`), whatever the earlier
 * calls are doing: an open loop, so a slow target cannot slow the load down. Resolves once the last was sent, or
 * once `stop.aborted` is true (for a load of no set length: `total` Infinity).
 */
function pace(rate, total, send, stop) {
  const start = performance.now();
  let next = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (next < total && start + (next * 1000) / rate <= now) send(start + (next++ * 1000) / rate);
      if (next >= total || stop?.aborted) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
}

module.exports = { pace };
