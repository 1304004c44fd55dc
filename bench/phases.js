// The load phases the benches share: signed webhooks against a server, closed loop (autocannon) or open loop
// (paced), each followed by waiting for its callbacks at the sink.
'use strict';
const http = require('node:http');
const { performance } = require('node:perf_hooks');
const autocannon = require('autocannon');
const { payload, pct, postWebhook, sleep } = require('./common');
const { pace } = require('./pace');

/** As fast as `connections` connections go (closed loop): autocannon. */
function load(port, sink, { duration, sent, connections }) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${port}/webhooks/modelriver`,
        connections,
        duration,
        requests: [
          {
            method: 'POST',
            setupRequest: (request) => {
              const p = payload(sink.url, sequence++);
              sent?.set(p.channelId, Date.now());
              return { ...request, body: p.body, headers: { 'content-type': 'application/json', 'mr-signature': p.signature } };
            },
          },
        ],
      },
      (error, result) =>
        error
          ? reject(error)
          : resolve({
              req_per_s: Math.round(result.requests.average),
              p50_ms: result.latency.p50,
              p99_ms: result.latency.p99,
              non_2xx: result.non2xx + result.errors + result.timeouts,
              accepted: result['2xx'],
            }),
    );
    autocannon.track(instance, { renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false });
  });
}

/**
 * Open loop at `rate` req/s, evenly spaced: request i is due at start + i/rate whatever happened to the ones
 * before it (up to `connections` in flight over keep-alive sockets; more wait for a free one). Latency runs from
 * when a request was due, so a slow target cannot hide its queue (no coordinated omission). autocannon's
 * `overallRate` is not used here: it sends each second's quota back to back at the start of the second, which
 * measures a burst's queue instead of a steady load. `lag_p99_ms` is how late this generator itself sent.
 * `newConnections`: a connection per request, as a proxy without keep-alive to its upstream sends.
 */
function paced(port, sink, { duration, rate, sent, connections, newConnections = false }) {
  const agent = new http.Agent({ keepAlive: !newConnections, maxSockets: connections });
  const total = Math.max(1, Math.round(rate * duration));
  const latencies = [];
  const lags = [];
  let accepted = 0;
  let failed = 0;
  return new Promise((resolve) => {
    const finish = () => {
      agent.destroy();
      resolve({
        req_per_s: Math.round(accepted / duration),
        p50_ms: +pct(latencies, 50).toFixed(1),
        p99_ms: +pct(latencies, 99).toFixed(1),
        non_2xx: failed,
        accepted,
        lag_p99_ms: +pct(lags, 99).toFixed(1),
      });
    };
    const answered = (due, ok) => {
      latencies.push(performance.now() - due);
      if (ok) accepted++;
      else failed++;
      if (latencies.length === total) finish();
    };
    const send = (due) => {
      const p = payload(sink.url, sequence++);
      lags.push(performance.now() - due);
      sent.set(p.channelId, Date.now() - (performance.now() - due));
      void postWebhook(agent, port, p).then(({ status }) => answered(due, status >= 200 && status < 300));
    };
    void pace(rate, total, send);
  });
}
let sequence = 0;

/**
 * One phase of signed webhooks against `port`: as fast as `options.connections` go, or paced at `options.rate`;
 * waits (bounded) until every accepted delivery was called back, then summarises the phase.
 */
async function phase(port, sink, options) {
  const sent = new Map();
  const startedAt = Date.now();
  const result = await (options.rate ? paced : load)(port, sink, { ...options, sent });
  const stoppedAt = Date.now();
  const { accepted } = result;
  const calledBack = () => [...sent.keys()].filter((c) => sink.received.has(c));
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && calledBack().length < accepted) await sleep(50);
  const called = calledBack();
  const endToEnd = called.map((c) => sink.received.get(c) - sent.get(c));
  // A loop, not Math.max(...spread): a 15 s phase against the baseline calls back ~100,000 times.
  const lastCallback = called.reduce((last, c) => Math.max(last, sink.received.get(c)), 0);
  return {
    ...result,
    callbacks: called.length,
    drain_after_stop_ms: Math.max(0, Math.round(lastCallback - stoppedAt)),
    // What the whole pipeline kept up with: deliveries called back per second, from the phase's start to the
    // last callback. Below req_per_s when processing falls behind intake (a backlog drains after the load).
    sustained_per_s: Math.round(called.length / (Math.max(lastCallback, stoppedAt) - startedAt) * 1000),
    e2e_p50_ms: +pct(endToEnd, 50).toFixed(1),
    e2e_p99_ms: +pct(endToEnd, 99).toFixed(1),
  };
}

module.exports = { phase };
