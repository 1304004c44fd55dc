'use strict';
// The demo: POST /ai/generate, then follow the channel on the socket.io gateway (namespace /ai).
(function () {
  const form = document.getElementById('generate-form');
  const button = document.getElementById('generate');
  const statusLine = document.getElementById('status');
  const resultBox = document.getElementById('result');
  const channelLabel = document.getElementById('channel');
  let socket;
  let startedAt = 0;
  let lastSeq = 0;

  function mark(step, failed) {
    const item = document.querySelector('[data-step="' + step + '"]');
    if (!item || item.classList.contains('done')) return;
    item.classList.add(failed ? 'failed' : 'done');
    item.querySelector('time').textContent = '+' + (Date.now() - startedAt) + ' ms';
  }

  function reset() {
    document.querySelectorAll('#steps li').forEach(function (item) {
      item.classList.remove('done', 'failed');
      item.querySelector('time').textContent = '';
    });
    resultBox.textContent = '—';
    statusLine.textContent = '';
    statusLine.classList.remove('error');
    lastSeq = 0;
  }

  function show(result) {
    resultBox.textContent = JSON.stringify(result, null, 2);
  }

  function fail(message) {
    statusLine.textContent = 'Failed: ' + message;
    statusLine.classList.add('error');
    mark('completed', true);
    button.disabled = false;
  }

  function complete(result) {
    ['ai_generated', 'processing', 'completed'].forEach(function (step) { mark(step); });
    show(result);
    statusLine.textContent = 'Completed';
    button.disabled = false;
  }

  // Replayed state (late subscribers) and live events end up here; seq drops duplicates.
  function apply(state) {
    if (!state) return;
    if (state.status === 'ai_generated' || state.status === 'processing' || state.status === 'completed') mark('ai_generated');
    if (state.status === 'processing') mark('processing');
    if (state.status === 'completed' && state.result) complete(state.result);
    if (state.status === 'failed') fail(state.error || 'processing failed');
  }

  function fresh(event) {
    if (typeof event.seq === 'number') {
      if (event.seq <= lastSeq) return false;
      lastSeq = event.seq;
    }
    return true;
  }

  function follow(answer) {
    if (socket) socket.close();
    socket = io(answer.realtime.namespace, { transports: ['websocket', 'polling'] });
    socket.on('ai:response', function (event) {
      if (!fresh(event)) return;
      if (event.status === 'ai_generated') mark('ai_generated');
      if (event.status === 'error') fail(event.message || 'ModelRiver reported an error');
    });
    socket.on('ai:processing', function (event) { if (fresh(event)) { mark('ai_generated'); mark('processing'); } });
    socket.on('ai:processed', function (event) { if (fresh(event)) complete(event.result); });
    socket.on('ai:error', function (event) { if (fresh(event)) fail(event.error); });
    socket.emit('subscribe', { channel_id: answer.channel_id, subscribe_token: answer.realtime.subscribe_token }, function (ack) {
      if (!ack || !ack.ok) return fail('subscription refused: ' + (ack && ack.error));
      lastSeq = Math.max(lastSeq, ack.state.seq || 0);
      apply(ack.state);
    });
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    reset();
    button.disabled = true;
    startedAt = Date.now();
    statusLine.textContent = 'Starting…';
    fetch('/ai/generate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: form.prompt.value, workflow: form.workflow.value }),
    })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error(Array.isArray(body.message) ? body.message.join('; ') : body.message);
          return body;
        });
      })
      .then(function (answer) {
        mark('queued');
        channelLabel.textContent = answer.channel_id;
        statusLine.textContent = 'Waiting for ModelRiver…';
        follow(answer);
      })
      .catch(function (error) { fail(error.message); });
  });
})();
