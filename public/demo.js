'use strict';
// The demo: POST /ai/generate, follow the channel on the socket.io gateway (namespace /ai), and once the
// request has ended read its stored outcome (GET status_url) to show the result and what became of the callback.
(function () {
  const form = document.getElementById('generate-form');
  const button = document.getElementById('generate');
  const statusLine = document.getElementById('status');
  const resultBox = document.getElementById('result');
  const callbackLine = document.getElementById('callback');
  const channelLabel = document.getElementById('channel');
  const STEPS = ['queued', 'ai_generated', 'processing', 'callback'];
  const CALLBACK_WORDS = {
    delivered: 'Callback delivered: ModelRiver accepted the processed result',
    not_required: 'No callback: this workflow does not call back',
    error_sent: 'Callback failed: the result did not get through; ModelRiver was told of the failure',
    error_failed: 'Callback failed: neither the result nor the failure reached ModelRiver',
    refused: 'Callback refused: the callback URL is not an allowed ModelRiver address',
  };

  let socket;
  let run = 0; // the current attempt: answers and events of an earlier one are ignored
  let startedAt = 0;
  let lastSeq = 0;
  let ended = false;

  function item(step) {
    return document.querySelector('[data-step="' + step + '"]');
  }

  function setStep(step, state, note) {
    const li = item(step);
    if (!li || li.classList.contains('done') || li.classList.contains('failed')) return;
    li.classList.remove('active');
    li.classList.add(state);
    li.querySelector('time').textContent = state === 'active' ? '' : '+' + (Date.now() - startedAt) + ' ms';
    if (note) li.querySelector('.note').textContent = note;
    if (state === 'done') {
      const next = item(STEPS[STEPS.indexOf(step) + 1]);
      if (next && !next.classList.contains('done')) next.classList.add('active');
    }
  }

  /** Marks every step before `step` done (events can arrive late or be replayed). */
  function reach(step) {
    STEPS.slice(0, STEPS.indexOf(step)).forEach(function (earlier) { setStep(earlier, 'done'); });
  }

  function reset() {
    run++;
    if (socket) socket.close();
    socket = undefined;
    ended = false;
    lastSeq = 0;
    document.querySelectorAll('#steps li').forEach(function (li) {
      li.classList.remove('done', 'failed', 'active');
      li.querySelector('time').textContent = '';
      li.querySelector('.note').textContent = '';
    });
    channelLabel.textContent = '';
    resultBox.textContent = '—';
    callbackLine.textContent = '';
    statusLine.textContent = '';
    statusLine.classList.remove('error');
  }

  function showFailure(step, message) {
    reach(step);
    setStep(step, 'failed', '(failed)');
    statusLine.textContent = 'Failed: ' + message;
    statusLine.classList.add('error');
    button.disabled = false;
  }

  /** The request ended: show the stored outcome, marking the step that failed, if one did. */
  function render(view) {
    ended = true;
    if (view.result !== null && view.result !== undefined) resultBox.textContent = JSON.stringify(view.result, null, 2);
    const callback = view.callback;
    if (callback && callback.status) {
      const http = callback.last_status_code ? ', last answer HTTP ' + callback.last_status_code : '';
      const attempts = callback.attempts ? ' (' + callback.attempts + ' attempt' + (callback.attempts === 1 ? '' : 's') + http + ')' : '';
      callbackLine.textContent = (CALLBACK_WORDS[callback.status] || 'Callback: ' + callback.status) + attempts;
    }
    if (view.status === 'completed') {
      reach('callback');
      setStep('callback', 'done', callback && callback.status === 'not_required' ? '(not required)' : '');
      statusLine.textContent = 'Completed';
      button.disabled = false;
      return;
    }
    // Failed: before any webhook (ModelRiver), in our processor (no result), or in the callback (a result exists).
    const failedStep = !callback ? 'ai_generated' : view.result === null && callback.status !== 'refused' ? 'processing' : 'callback';
    showFailure(failedStep, view.error || 'the request failed');
  }

  /** Reads the stored outcome; the live event can be a moment ahead of storage, so ask again a few times. */
  function settle(statusUrl, mine, tries) {
    if (mine !== run || ended) return;
    fetch(statusUrl)
      .then(function (response) { return response.json(); })
      .then(function (view) {
        if (mine !== run || ended) return;
        if (view.status === 'completed' || view.status === 'failed') return render(view);
        if (tries > 0) setTimeout(function () { settle(statusUrl, mine, tries - 1); }, 300);
      })
      .catch(function () {
        if (tries > 0) setTimeout(function () { settle(statusUrl, mine, tries - 1); }, 300);
      });
  }

  function fresh(event) {
    if (typeof event.seq === 'number') {
      if (event.seq <= lastSeq) return false;
      lastSeq = event.seq;
    }
    return true;
  }

  /** Live progress: events only move steps forward; the end is read from storage. */
  function progress(status) {
    if (status === 'ai_generated' || status === 'processing' || status === 'completed' || status === 'success') reach('processing');
    if (status === 'processing') setStep('processing', 'active');
  }

  function follow(answer, mine) {
    const done = function () { settle(answer.status_url, mine, 10); };
    socket = io(answer.realtime.namespace, { transports: ['websocket', 'polling'] });
    socket.on('ai:response', function (event) {
      if (!fresh(event)) return;
      progress(event.status);
      if (event.status === 'error') done();
    });
    socket.on('ai:processing', function (event) { if (fresh(event)) progress('processing'); });
    socket.on('ai:processed', function (event) { if (fresh(event)) done(); });
    socket.on('ai:error', function (event) { if (fresh(event)) done(); });
    socket.emit('subscribe', { channel_id: answer.channel_id, subscribe_token: answer.realtime.subscribe_token }, function (ack) {
      if (mine !== run) return;
      if (!ack || !ack.ok) return showFailure('ai_generated', 'subscription refused: ' + (ack && ack.error));
      lastSeq = Math.max(lastSeq, ack.state.seq || 0);
      progress(ack.state.status);
      if (ack.state.status === 'completed' || ack.state.status === 'failed') render(ack.state);
    });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    reset();
    const mine = run;
    button.disabled = true;
    startedAt = Date.now();
    item('queued').classList.add('active');
    statusLine.textContent = 'Starting…';
    fetch('/ai/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: form.prompt.value, workflow: form.workflow.value }),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(body.message + (body.errors && body.errors.length > 1 ? ' (' + body.errors.join('; ') + ')' : ''));
          return body;
        });
      })
      .then(function (answer) {
        if (mine !== run) return;
        setStep('queued', 'done');
        channelLabel.textContent = answer.channel_id;
        statusLine.textContent = 'Waiting for ModelRiver…';
        follow(answer, mine);
      })
      .catch(function (error) {
        if (mine === run) showFailure('queued', error.message);
      });
  });
})();
