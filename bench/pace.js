// The benches' open-loop pacer.
'use strict';
const { performance } = require('node:perf_hooks');
const { clearInterval, setInterval } = require('node:timers');

/**
 * Calls `send(due)` `total` times, call i at start + i/rate (performance.now() time, `due`), whatever the earlier
 * calls are doing: an open loop, so a slow target cannot slow the load down. Resolves once the last was sent.
 */
function pace(rate, total, send) {
  const start = performance.now();
  let next = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = performance.now();
      while (next < total && start + (next * 1000) / rate <= now) send(start + (next++ * 1000) / rate);
      if (next >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
}

module.exports = { pace };
