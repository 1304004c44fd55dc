'use strict';
// Delivery browser: every delivery newest first, filters, detail, replay. The token stays in this tab only
// (sessionStorage) and goes out as a bearer header; nothing here is rendered as HTML from server data.
(function () {
  const $ = (id) => document.getElementById(id);
  const message = $('message');
  const login = $('login');
  const tokenInput = $('token');
  const dashboard = $('dashboard');
  const detail = $('detail');
  const rows = document.querySelector('#deliveries tbody');

  const state = {
    token: sessionStorage.getItem('adminToken') || '',
    pages: [null], // cursors of the pages seen: pages[0] is the newest page
    openId: null,
    openedFrom: null,
    busy: false,
    again: false, // a refresh was asked for while one was running
    replayResults: new Map(), // delivery id → { ok, text }, kept across refreshes
  };

  function say(text) {
    message.textContent = text || '';
  }

  function api(path, options) {
    const init = Object.assign({}, options, { headers: { authorization: 'Bearer ' + state.token } });
    return fetch(path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.ok) return body;
        const details = Array.isArray(body.errors) && body.errors.length ? ' (' + body.errors.join('; ') + ')' : '';
        const error = new Error(response.status + ': ' + (body.message || response.statusText) + details);
        error.status = response.status;
        throw error;
      });
    });
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function when(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    return date.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
  }

  function timeCell(iso) {
    const td = el('td');
    const time = el('time', when(iso));
    time.dateTime = iso;
    td.appendChild(time);
    return td;
  }

  // ---- signing in and out ----

  function showSignedIn(signedIn) {
    login.hidden = signedIn;
    $('session').hidden = !signedIn;
    dashboard.hidden = !signedIn;
    if (!signedIn) detail.hidden = true;
  }

  login.addEventListener('submit', function (event) {
    event.preventDefault();
    state.token = tokenInput.value;
    refresh().then(function (ok) {
      if (!ok) return;
      sessionStorage.setItem('adminToken', state.token);
      tokenInput.value = '';
      $('f-status').focus();
    });
  });

  $('sign-out').addEventListener('click', function () {
    sessionStorage.removeItem('adminToken');
    state.token = '';
    state.openId = null;
    state.replayResults.clear();
    rows.textContent = '';
    showSignedIn(false);
    say('Signed out.');
    tokenInput.focus();
  });

  // ---- filters, counts and paging ----

  function filterQuery() {
    const params = new URLSearchParams();
    const text = { status: 'f-status', type: 'f-type', event: 'f-event', search: 'f-search' };
    Object.keys(text).forEach(function (name) {
      const value = $(text[name]).value.trim();
      if (value) params.set(name, value);
    });
    [['since', 'f-since'], ['until', 'f-until']].forEach(function (pair) {
      const value = $(pair[1]).value;
      if (value) params.set(pair[0], new Date(value).toISOString());
    });
    return params;
  }

  function restart() {
    state.pages = [null];
    refresh();
  }

  $('filters').addEventListener('submit', function (event) {
    event.preventDefault();
    restart();
  });
  $('f-clear').addEventListener('click', function () {
    $('filters').reset();
    restart();
  });
  $('newest').addEventListener('click', restart);
  $('older').addEventListener('click', function () {
    const next = $('older').dataset.cursor;
    if (!next) return;
    state.pages.push(next);
    refresh();
  });

  function renderCounts(byStatus, completedCountedAt) {
    const list = $('counts');
    list.textContent = '';
    const current = $('f-status').value;
    const total = Object.keys(byStatus).reduce(function (sum, key) { return sum + byStatus[key]; }, 0);
    const entries = [['', 'all', total]].concat(Object.keys(byStatus).sort().map(function (status) { return [status, status, byStatus[status]]; }));
    entries.forEach(function (entry) {
      const li = el('li');
      const button = el('button', entry[1] + ': ' + entry[2].toLocaleString());
      button.type = 'button';
      button.dataset.status = entry[0] || 'all';
      button.setAttribute('aria-pressed', String(current === entry[0]));
      // A large table's completed deliveries are counted at most once a minute: say when.
      if ((entry[0] === 'completed' || entry[0] === '') && completedCountedAt) button.title = 'completed deliveries counted ' + when(completedCountedAt);
      button.addEventListener('click', function () {
        $('f-status').value = entry[0];
        restart();
      });
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  function renderRetention(stats) {
    const span = function (setting) { return setting === 'off' ? 'for ever' : 'for ' + setting; };
    const kept = 'Completed deliveries are kept ' + span(stats.retention.completed) + ', dead and quarantined ones ' + span(stats.retention.failed);
    $('retention').textContent = kept + (stats.oldest_kept_at ? '; the oldest kept arrived ' + when(stats.oldest_kept_at) + '.' : '.');
  }

  // ---- the list ----

  /** `more`: older deliveries may match (a page filtered on type or event reads at most 10,000 deliveries). */
  function renderRows(items, more) {
    rows.textContent = '';
    $('empty').hidden = items.length > 0;
    $('empty').textContent = more ? 'No match among the newest deliveries looked at: Older looks further back.' : 'No delivery matches.';
    items.forEach(function (item) {
      const tr = el('tr');
      tr.dataset.id = item.id;
      tr.dataset.status = item.status;
      tr.appendChild(timeCell(item.created_at));
      const status = el('td');
      status.appendChild(el('span', item.status, 'status status-' + item.status));
      tr.appendChild(status);
      tr.appendChild(el('td', (item.type || '?') + ' / ' + (item.event || '-')));
      const channel = el('td');
      if (item.channel_id) channel.appendChild(el('code', item.channel_id));
      tr.appendChild(channel);
      tr.appendChild(el('td', item.attempts));
      tr.appendChild(el('td', item.callback_status || failedSoFar(item.failed_callback_attempts), 'callback'));
      tr.appendChild(el('td', item.reason || '', 'reason'));
      tr.appendChild(actionsCell(item));
      rows.appendChild(tr);
    });
  }

  /** A delivery still on its way: how many of its callback attempts have failed so far (none: nothing to say). */
  function failedSoFar(count) {
    return count ? count + (count === 1 ? ' attempt' : ' attempts') + ' failed so far' : '';
  }

  function actionsCell(item) {
    const td = el('td', null, 'actions');
    const open = el('button', 'Open', 'open');
    open.type = 'button';
    open.setAttribute('aria-label', 'Open delivery ' + item.id);
    open.addEventListener('click', function () { openDetail(item.id, open); });
    td.appendChild(open);
    if (item.replayable) {
      const replayButton = el('button', 'Replay', 'replay');
      replayButton.type = 'button';
      replayButton.setAttribute('aria-label', 'Replay delivery ' + item.id);
      replayButton.addEventListener('click', function () { replay(item.id); });
      td.appendChild(document.createTextNode(' '));
      td.appendChild(replayButton);
    } else if (item.replay_blocked) {
      td.appendChild(el('span', 'no replay: ' + item.replay_blocked, 'replay-result muted'));
    }
    const result = state.replayResults.get(item.id);
    const line = el('span', result ? result.text : '', 'replay-result' + (result && !result.ok ? ' error' : ''));
    line.setAttribute('role', 'status');
    td.appendChild(line);
    return td;
  }

  /** Loads counts, the current page and the open detail. Resolves to false when it failed (message shown). */
  function refresh() {
    if (state.busy) {
      state.again = true;
      return Promise.resolve(true);
    }
    state.busy = true;
    const params = filterQuery();
    const cursor = state.pages[state.pages.length - 1];
    if (cursor) params.set('cursor', cursor);
    return Promise.all([api('/admin/deliveries/stats'), api('/admin/deliveries?' + params.toString())])
      .then(function (answers) {
        showSignedIn(true);
        say('');
        renderCounts(answers[0].by_status, answers[0].completed_counted_at);
        renderRetention(answers[0]);
        renderRows(answers[1].items, Boolean(answers[1].next_cursor));
        $('page-label').textContent = state.pages.length > 1 ? '(page ' + state.pages.length + ')' : '';
        $('older').dataset.cursor = answers[1].next_cursor || '';
        $('older').disabled = !answers[1].next_cursor;
        $('newest').disabled = state.pages.length === 1;
        return state.openId ? loadDetail(state.openId) : undefined;
      })
      .then(function () { return true; })
      .catch(function (error) {
        if (error.status === 401) {
          sessionStorage.removeItem('adminToken');
          showSignedIn(false);
        }
        say(error.message);
        return false;
      })
      .finally(function () {
        state.busy = false;
        if (state.again) {
          state.again = false;
          refresh();
        }
      });
  }

  // ---- the detail ----

  function openDetail(id, from) {
    state.openId = id;
    state.openedFrom = from || null;
    loadDetail(id).then(function () {
      detail.hidden = false;
      detail.focus();
      detail.scrollIntoView({ block: 'start' });
    }).catch(function (error) { say(error.message); });
  }

  $('close-detail').addEventListener('click', function () {
    const back = state.openedFrom && document.contains(state.openedFrom)
      ? state.openedFrom
      : document.querySelector('#deliveries tr[data-id="' + state.openId + '"] button.open');
    state.openId = null;
    detail.hidden = true;
    if (back) back.focus();
  });

  function setText(id, text) {
    if ($(id).textContent !== text) $(id).textContent = text;
  }

  function loadDetail(id) {
    return api('/admin/deliveries/' + encodeURIComponent(id)).then(function (delivery) {
      if (state.openId !== id) return;
      $('detail-title').textContent = 'Delivery ' + delivery.id;
      const fields = $('detail-fields');
      fields.textContent = '';
      [
        ['Status', delivery.status],
        ['Type / event', (delivery.type || '?') + ' / ' + (delivery.event || '-')],
        ['Channel', delivery.channel_id],
        ['Received', when(delivery.created_at)],
        ['Updated', when(delivery.updated_at)],
        ['Completed', when(delivery.completed_at)],
        ['Runs', delivery.attempts],
        ['Next run', delivery.status === 'retrying' || delivery.status === 'queued' ? when(delivery.next_run_at) : ''],
        ['Callback', delivery.callback_status],
        ['Callback URL', delivery.callback_url],
        ['Last error', delivery.last_error === delivery.reason ? '' : delivery.last_error],
      ].forEach(function (pair) {
        if (pair[1] === null || pair[1] === undefined || pair[1] === '') return;
        fields.appendChild(el('dt', pair[0]));
        fields.appendChild(el('dd', pair[1]));
      });

      $('detail-reason-box').hidden = !delivery.reason;
      setText('detail-reason', delivery.reason || '');
      const replayButton = $('detail-replay');
      replayButton.hidden = !delivery.replayable;
      replayButton.onclick = function () { replay(delivery.id); };
      const replayResult = state.replayResults.get(delivery.id);
      setText('detail-replay-result', replayResult ? replayResult.text : delivery.replay_blocked ? 'no replay: ' + delivery.replay_blocked : '');

      setText('detail-payload', JSON.stringify(delivery.payload, null, 2));
      const errors = $('detail-errors');
      errors.textContent = '';
      (delivery.validation_errors || []).forEach(function (text) { errors.appendChild(el('li', text)); });
      $('detail-errors-box').hidden = !(delivery.validation_errors || []).length;
      // A run keeps its result in memory while it retries the callback and stores it with the outcome.
      const resultAttempted = delivery.callback_attempts.some(function (attempt) { return attempt.kind === 'result'; });
      setText('detail-result', delivery.result !== null ? JSON.stringify(delivery.result, null, 2)
        : resultAttempted ? '(processed; stored once the callback has an outcome: see the attempts below)' : '(none yet)');

      const attempts = $('detail-attempts');
      attempts.textContent = '';
      if (!delivery.callback_attempts.length) attempts.appendChild(el('li', 'no callback attempt yet'));
      delivery.callback_attempts.forEach(function (attempt) {
        const li = el('li');
        const time = el('time', when(attempt.created_at));
        time.dateTime = attempt.created_at;
        li.appendChild(time);
        li.appendChild(document.createTextNode(' ' + attempt.kind + ' #' + attempt.attempt + ': '));
        li.appendChild(el('span', attempt.outcome, 'outcome-' + attempt.outcome));
        const http = attempt.status_code === null ? 'no HTTP answer' : 'HTTP ' + attempt.status_code;
        li.appendChild(document.createTextNode(', ' + http + ', ' + attempt.duration_ms + ' ms' + (attempt.error ? ', ' + attempt.error : '')));
        attempts.appendChild(li);
      });

      const audit = $('detail-audit');
      audit.textContent = '';
      if (!delivery.audit.length) audit.appendChild(el('li', 'no operator action'));
      delivery.audit.forEach(function (entry) {
        audit.appendChild(el('li', when(entry.created_at) + ': ' + entry.action + ' (was ' + entry.from_status + ')' + (entry.request_id ? ', request ' + entry.request_id : '')));
      });
    });
  }

  // ---- replay ----

  function replay(id) {
    return api('/admin/deliveries/' + encodeURIComponent(id) + '/replay', { method: 'POST' })
      .then(function (answer) {
        state.replayResults.set(id, { ok: true, text: 'Replayed (was ' + answer.replayed_from + '): queued again' });
      })
      .catch(function (error) {
        state.replayResults.set(id, { ok: false, text: 'Not replayed: ' + error.message });
      })
      .then(function () { return refresh(); });
  }

  // ---- auto-refresh ----

  setInterval(function () {
    if (!$('auto-refresh').checked || dashboard.hidden || document.visibilityState !== 'visible') return;
    refresh();
  }, 5000);

  if (state.token) {
    refresh();
  } else {
    showSignedIn(false);
    tokenInput.focus();
  }
})();
