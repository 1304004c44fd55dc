'use strict';
// Operations dashboard: counts by status, recent failures, replay. The token stays in this tab only.
(function () {
  const message = document.getElementById('message');
  const dashboard = document.getElementById('dashboard');
  const tokenInput = document.getElementById('token');
  tokenInput.value = sessionStorage.getItem('adminToken') || '';

  function api(path, options) {
    const headers = { authorization: 'Bearer ' + tokenInput.value };
    return fetch(path, Object.assign({ headers: headers }, options)).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(response.status + ': ' + (body.message || response.statusText));
        return body;
      });
    });
  }

  function cell(text) {
    const td = document.createElement('td');
    td.textContent = text == null ? '' : String(text);
    return td;
  }

  function render(stats, failures) {
    const counts = document.getElementById('counts');
    counts.textContent = '';
    Object.keys(stats.by_status).sort().forEach(function (status) {
      const li = document.createElement('li');
      li.textContent = status + ': ' + stats.by_status[status];
      li.dataset.status = status;
      counts.appendChild(li);
    });
    const body = document.querySelector('#failures tbody');
    body.textContent = '';
    failures.forEach(function (item) {
      const tr = document.createElement('tr');
      tr.dataset.id = item.id;
      tr.appendChild(cell(item.created_at));
      tr.appendChild(cell((item.type || '?') + ' / ' + (item.event || '-')));
      tr.appendChild(cell(item.status));
      tr.appendChild(cell(item.last_error));
      const action = document.createElement('td');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Replay';
      button.className = 'replay';
      button.addEventListener('click', function () { replay(item.id, button); });
      action.appendChild(button);
      tr.appendChild(action);
      body.appendChild(tr);
    });
  }

  function load() {
    return Promise.all([
      api('/admin/deliveries/stats'),
      api('/admin/deliveries?status=dead&limit=20'),
      api('/admin/deliveries?status=quarantined&limit=20'),
    ]).then(function (results) {
      dashboard.hidden = false;
      render(results[0], results[1].items.concat(results[2].items));
    });
  }

  function replay(id, button) {
    button.disabled = true;
    api('/admin/deliveries/' + id + '/replay', { method: 'POST' })
      .then(function () { message.textContent = 'Replayed ' + id; return load(); })
      .catch(function (error) { message.textContent = 'Replay failed: ' + error.message; button.disabled = false; });
  }

  document.getElementById('login').addEventListener('submit', function (event) {
    event.preventDefault();
    sessionStorage.setItem('adminToken', tokenInput.value);
    message.textContent = '';
    load().catch(function (error) { message.textContent = error.message; dashboard.hidden = true; });
  });
  document.getElementById('refresh').addEventListener('click', function () {
    load().catch(function (error) { message.textContent = error.message; });
  });
})();
