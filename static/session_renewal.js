/* Inside the portal's iframe: keep the short-lived app session alive with the portal's own auth
   (BX24.refreshAuth → POST /app/session), so the server re-checks who is looking every few minutes.
   The new session token replaces the old one in links, forms and scripts' headers. */
(function () {
  var script = document.currentScript;
  var renewUrl = script && script.getAttribute('data-renew-url');
  var every = parseInt((script && script.getAttribute('data-renew-seconds')) || '0', 10) * 1000;
  var wasAdmin = script && script.getAttribute('data-admin') === '1';
  if (!window.BX24) { return; }

  function currentToken() {
    return window.appSessionToken || new URL(window.location.href).searchParams.get('_s') || '';
  }

  function swap(oldToken, newToken) {
    if (!oldToken || !newToken || oldToken === newToken) { return; }
    window.appSessionToken = newToken;
    ['href', 'action', 'value', 'data-url', 'data-session'].forEach(function (name) {
      document.querySelectorAll('[' + name + ']').forEach(function (el) {
        var value = el.getAttribute(name);
        if (value && value.indexOf(oldToken) >= 0) { el.setAttribute(name, value.split(oldToken).join(newToken)); }
      });
    });
    document.querySelectorAll('input[name="_s"]').forEach(function (input) { input.value = newToken; });
    var url = new URL(window.location.href);
    if (url.searchParams.get('_s')) {
      url.searchParams.set('_s', newToken);
      window.history.replaceState(window.history.state, '', url.toString());
    }
  }

  function renew() {
    BX24.refreshAuth(function (auth) {
      auth = auth || BX24.getAuth();
      if (!auth || !auth.access_token) { return; }
      var body = new URLSearchParams();
      body.set('AUTH_ID', auth.access_token);
      body.set('member_id', auth.member_id || '');
      body.set('DOMAIN', auth.domain || '');
      body.set('LANG', document.documentElement.lang || 'ru');
      var oldToken = currentToken();
      fetch(renewUrl, {method: 'POST', body: body, credentials: 'same-origin',
                       headers: {'Accept': 'application/json', 'X-App-Session': oldToken}})
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (data) {
          swap(oldToken, data.session);
          if (!!data.admin !== wasAdmin) { window.location.reload(); }  // rights changed: show the page as they are now
        })
        .catch(function () { /* the next round tries again; an expired session asks to reopen the app */ });
    });
  }

  BX24.init(function () {
    if (renewUrl && every > 0) { window.setInterval(renew, every); }
  });
})();
