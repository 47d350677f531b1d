/* The settings window: unsaved-changes warning, live sync progress, BX24.selectUser inside the portal. */
(function () {
  var script = document.currentScript;
  var token = script ? script.getAttribute('data-session') : '';

  // Unsaved changes: warn when leaving a form that changed, except through its own buttons.
  document.querySelectorAll('form.settings-form').forEach(function (form) {
    var dirty = false;
    form.addEventListener('change', function () { dirty = true; });
    form.addEventListener('input', function () { dirty = true; });
    form.addEventListener('submit', function () { dirty = false; });
    window.addEventListener('beforeunload', function (event) {
      if (!dirty) { return; }
      event.preventDefault();
      event.returnValue = form.getAttribute('data-dirty-warning') || '';
      return event.returnValue;
    });
    document.querySelectorAll('a.b24-tab, .settings-sections a').forEach(function (link) {
      link.addEventListener('click', function (event) {
        if (dirty && !window.confirm(form.getAttribute('data-dirty-warning'))) { event.preventDefault(); }
        else { dirty = false; }
      });
    });
  });

  // The sync's progress bar: poll the task until it finishes, then reload to show the result.
  var box = document.getElementById('sync-task');
  if (box && ['done', 'failed'].indexOf(box.getAttribute('data-state')) < 0) {
    var poll = function () {
      var headers = {'Accept': 'application/json'};
      var current = window.appSessionToken || token;  // renewed by portal_frame.js
      if (current) { headers['X-App-Session'] = current; }
      fetch(box.getAttribute('data-url'), {headers: headers, credentials: 'same-origin'})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (t) {
          document.getElementById('sync-task-done').textContent = t.done;
          document.getElementById('sync-task-total').textContent = t.total;
          document.getElementById('sync-task-step').textContent = t.step || '';
          document.getElementById('sync-task-bar').style.width = t.percent + '%';
          box.setAttribute('data-state', t.state);
          if (t.finished) {
            var url = new URL(window.location.href);
            url.searchParams.delete('notice');
            url.hash = 'sync';
            // The same address plus "#sync" would only scroll (no reload, the bar stays at "done" and the
            // button disabled, as on a Main tab opened during a sync): load the address itself then.
            if (url.href.split('#')[0] === window.location.href.split('#')[0]) { url.hash = ''; }
            setTimeout(function () { window.location.replace(url.toString()); }, 400);
          } else { setTimeout(poll, 700); }
        })
        .catch(function () { setTimeout(poll, 2000); });
    };
    setTimeout(poll, 500);
  }

  // Inside the portal: pick a user with the portal's own dialog (BX24.selectUser).
  if (window.BX24 && BX24.selectUser) {
    document.querySelectorAll('.bx-select-user').forEach(function (button) {
      var select = button.parentNode.querySelector('select.user-select');
      if (!select) { return; }
      button.hidden = false;
      button.addEventListener('click', function () {
        BX24.selectUser(function (user) {
          if (!user || !user.id) { return; }
          var option = select.querySelector('option[value="' + user.id + '"]');
          if (!option) {
            option = document.createElement('option');
            option.value = user.id;
            option.textContent = (user.name || '') + ' (' + user.id + ')';
            select.appendChild(option);
          }
          select.value = String(user.id);
          select.dispatchEvent(new Event('change', {bubbles: true}));
        });
      });
    });
  }

  // Outside the portal: a search box above long user lists.
  document.querySelectorAll('select.searchable').forEach(function (select) {
    if (select.options.length < 8) { return; }
    var input = document.createElement('input');
    input.type = 'search';
    input.className = 'b24-input user-search';
    input.placeholder = '…';
    input.addEventListener('input', function () {
      var needle = input.value.toLowerCase();
      Array.prototype.forEach.call(select.options, function (o) {
        o.hidden = needle && o.value && o.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
    select.parentNode.insertBefore(input, select);
  });
  if (window.BX24 && BX24.fitWindow) { BX24.fitWindow(); }
})();
