/*
 * BX24.js stand-in for the UIS sandbox portal (the real one lives at https://api.bitrix24.com/api/v1/).
 * Runs inside the app's iframe and talks to the portal page with window.parent.postMessage, the way the
 * real script does; REST calls go straight to the portal's /rest/ with the current access token.
 * The frame learns its portal from window.name ("domain|protocol|APP_SID", set by the portal on the
 * iframe) or from the DOMAIN/PROTOCOL/APP_SID query of the first POST.
 */
(function (window) {
  "use strict";
  if (window.BX24 && window.BX24.__sandbox) { return; }

  var query = new URLSearchParams(window.location.search);
  var nameParts = (window.name || "").split("|");
  var domain = nameParts.length === 3 ? nameParts[0] : query.get("DOMAIN");
  var protocol = nameParts.length === 3 ? nameParts[1] : query.get("PROTOCOL");
  var appSid = nameParts.length === 3 ? nameParts[2] : query.get("APP_SID");
  var portalOrigin = domain ? ((protocol === "1" ? "https://" : "http://") + domain) : null;
  var sequence = 0;
  var waiting = {};
  var initData = null;
  var initCallbacks = [];
  var initStarted = false;

  window.addEventListener("message", function (event) {
    if (event.origin !== portalOrigin) { return; }
    var data = event.data;
    if (!data || data.bx24sandbox !== 1 || data.reply === undefined) { return; }
    var callback = waiting[data.reply];
    delete waiting[data.reply];
    if (callback) { callback(data.result); }
  });

  function send(method, params, callback) {
    if (!portalOrigin || window.parent === window) {
      if (callback) { callback(null); }
      return;
    }
    var id = ++sequence;
    if (callback) { waiting[id] = callback; }
    window.parent.postMessage({ bx24sandbox: 1, id: id, method: method, params: params || {}, app_sid: appSid },
      portalOrigin);
  }

  function ensureInit(callback) {
    if (initData) { callback(); return; }
    initCallbacks.push(callback);
    if (initStarted) { return; }
    initStarted = true;
    send("getInitData", {}, function (data) {
      initData = data || {};
      var callbacks = initCallbacks; initCallbacks = [];
      callbacks.forEach(function (cb) { try { cb(); } catch (e) { console.error(e); } });
    });
  }

  function AjaxResult(answer, status, query) {
    this.answer = answer || {};
    this.status = status;
    this.query = query;
  }
  AjaxResult.prototype.data = function () { return this.answer.result; };
  AjaxResult.prototype.error = function () {
    if (this.answer.error === undefined) { return false; }
    var ex = { error: this.answer.error, error_description: this.answer.error_description, status: this.status };
    return { ex: ex, status: this.status, getError: function () { return ex; },
             toString: function () { return (ex.error ? ex.error + ": " : "") + (ex.error_description || ""); } };
  };
  AjaxResult.prototype.error_description = function () { return this.answer.error_description; };
  AjaxResult.prototype.more = function () { return this.answer.next !== undefined && this.answer.next !== null; };
  AjaxResult.prototype.total = function () { return this.answer.total; };
  AjaxResult.prototype.time = function () { return this.answer.time; };
  AjaxResult.prototype.next = function (callback) {
    if (!this.more()) { return false; }
    var params = Object.assign({}, this.query.params, { start: this.answer.next });
    BX24.callMethod(this.query.method, params, callback);
    return true;
  };

  function restCall(method, params, callback, retried) {
    var body = Object.assign({}, params || {}, { auth: initData.AUTH_ID });
    fetch(portalOrigin + "/rest/" + method + ".json", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return { error: "INTERNAL_SERVER_ERROR",
        error_description: "HTTP " + response.status }; }).then(function (answer) {
        if (!retried && response.status === 401 && answer.error === "expired_token") {
          BX24.refreshAuth(function () { restCall(method, params, callback, true); });
          return;
        }
        if (callback) { callback(new AjaxResult(answer, response.status, { method: method, params: params })); }
      });
    }).catch(function (error) {
      if (callback) {
        callback(new AjaxResult({ error: "NETWORK_ERROR", error_description: String(error) }, 0,
          { method: method, params: params }));
      }
    });
  }

  function phpQuery(value, prefix, out) {
    out = out || [];
    if (value !== null && typeof value === "object") {
      Object.keys(value).forEach(function (key) {
        phpQuery(value[key], prefix ? prefix + "[" + key + "]" : key, out);
      });
    } else {
      out.push(encodeURIComponent(prefix) + "=" + encodeURIComponent(value === null || value === undefined ? "" :
        (value === true ? "1" : value === false ? "0" : value)));
    }
    return out;
  }

  var BX24 = {
    __sandbox: true,
    init: function (callback) { ensureInit(function () { if (callback) { callback(); } }); },
    ready: function (callback) { BX24.init(callback); },
    isAdmin: function () { return !!(initData && initData.IS_ADMIN); },
    getLang: function () { return (initData && initData.LANG) || query.get("LANG") || "ru"; },
    getDomain: function () { return domain; },
    getAuth: function () {
      if (!initData || !initData.AUTH_ID) { return false; }
      return { access_token: initData.AUTH_ID, refresh_token: initData.REFRESH_ID,
               expires_in: initData.AUTH_EXPIRES, domain: initData.DOMAIN, member_id: initData.MEMBER_ID };
    },
    refreshAuth: function (callback) {
      ensureInit(function () {
        send("refreshAuth", {}, function (auth) {
          if (auth && auth.AUTH_ID) {
            initData.AUTH_ID = auth.AUTH_ID; initData.REFRESH_ID = auth.REFRESH_ID;
            initData.AUTH_EXPIRES = auth.AUTH_EXPIRES;
          }
          if (callback) { callback(BX24.getAuth()); }
        });
      });
    },
    callMethod: function (method, params, callback) {
      ensureInit(function () { restCall(method, params, callback, false); });
    },
    callBatch: function (calls, callback, halt) {
      var cmd = Array.isArray(calls) ? {} : {};
      Object.keys(calls).forEach(function (key) {
        var call = calls[key];
        var method = Array.isArray(call) ? call[0] : call.method;
        var params = Array.isArray(call) ? call[1] : call.params;
        cmd[key] = method + "?" + phpQuery(params || {}, "").join("&");
      });
      BX24.callMethod("batch", { halt: halt ? 1 : 0, cmd: cmd }, function (result) {
        if (!callback) { return; }
        var data = result.data() || {};
        var results = Array.isArray(calls) ? [] : {};
        Object.keys(calls).forEach(function (key) {
          var errors = data.result_error || {};
          var answer = errors[key] ? errors[key] : { result: (data.result || {})[key],
            total: (data.result_total || {})[key], next: (data.result_next || {})[key] };
          results[key] = new AjaxResult(answer, errors[key] ? 400 : 200, { method: "batch", params: {} });
        });
        callback(results);
      });
    },
    installFinish: function () { ensureInit(function () { send("installFinish", {}); }); },
    // The content's own height (the body's box and margins): unlike the document's scrollHeight it drops
    // when the content does, so the frame shrinks as well as grows.
    fitWindow: function (callback) {
      var body = document.body;
      var style = body ? window.getComputedStyle(body) : null;
      var height = body ? Math.ceil(body.getBoundingClientRect().height + parseFloat(style.marginTop || 0) +
        parseFloat(style.marginBottom || 0)) : document.documentElement.scrollHeight;
      send("resizeWindow", { width: document.documentElement.scrollWidth, height: height }, callback);
    },
    // Opens a portal page ("/crm/lead/details/5/") in the portal's slider; the callback learns when it
    // closes ({result: "close"}) or that the path cannot be opened ({result: "error", errorCode}).
    openPath: function (path, callback) { send("openPath", { path: String(path || "") }, callback); },
    resizeWindow: function (width, height, callback) { send("resizeWindow", { width: width, height: height }, callback); },
    getScrollSize: function () {
      return { scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight };
    },
    setTitle: function (title, callback) { send("setTitle", { title: title }, callback); },
    reloadWindow: function () { send("reloadWindow", {}); },
    closeApplication: function (callback) { send("closeApplication", {}, callback); },
    selectUser: function (callback) { send("selectUser", {}, callback); },
    selectUsers: function (callback) { send("selectUsers", {}, callback); },
    placement: {
      info: function () {
        return { placement: (initData && initData.PLACEMENT) || "DEFAULT", options: (initData && initData.PLACEMENT_OPTIONS) || {} };
      },
      call: function (command, params, callback) { if (callback) { callback(null); } },
      bindEvent: function (event, callback) { if (callback) { callback(); } },
    },
  };

  window.BX24 = BX24;
})(window);
