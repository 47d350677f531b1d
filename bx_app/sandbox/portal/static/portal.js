/* The portal side of the BX24.js protocol: answers the app frame's postMessage requests. */
(function () {
  "use strict";
  var launch = window.B24_SANDBOX_LAUNCH;
  var viewer = window.B24_SANDBOX_VIEWER;
  var frame = document.getElementById("app-frame");
  var appOrigin = new URL(launch.action).origin;
  var picker = document.getElementById("user-picker");
  var pendingPick = null;

  function reply(source, origin, id, result) {
    source.postMessage({ bx24sandbox: 1, reply: id, result: result }, origin === "null" ? "*" : origin);
  }

  function post(url, data) {
    return fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data) })
      .then(function (r) { return r.json(); });
  }

  function openPicker(multiple, done) {
    pendingPick = { multiple: multiple, done: done };
    picker.querySelectorAll("input[type=checkbox]").forEach(function (box) { box.checked = false; box.hidden = !multiple; });
    picker.querySelectorAll(".pick-one").forEach(function (b) { b.hidden = multiple; });
    document.getElementById("picker-ok").hidden = !multiple;
    picker.hidden = false;
  }

  function closePicker(result) {
    picker.hidden = true;
    if (pendingPick) { var done = pendingPick.done; pendingPick = null; done(result); }
  }

  picker.querySelectorAll(".pick-one").forEach(function (b) {
    b.addEventListener("click", function () { closePicker({ id: b.dataset.id, name: b.dataset.name }); });
  });
  document.getElementById("picker-ok").addEventListener("click", function () {
    var chosen = [];
    picker.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
      chosen.push({ id: box.value, name: box.dataset.name });
    });
    closePicker(chosen);
  });
  document.getElementById("picker-cancel").addEventListener("click", function () {
    closePicker(pendingPick && pendingPick.multiple ? [] : null);
  });

  var handlers = {
    getInitData: function (params, done) { done(launch.init); },
    installFinish: function (params, done) {
      post("/sandbox/portal/install-finish", { app_sid: launch.app_sid }).then(function (answer) {
        done(answer);
        if (answer.ok) {
          window.location.href = "/?" + new URLSearchParams({ user: viewer.user, lang: viewer.lang, view: "app" });
        }
      });
    },
    refreshAuth: function (params, done) {
      post("/sandbox/portal/refresh-auth", { app_sid: launch.app_sid }).then(function (auth) {
        if (auth.AUTH_ID) { launch.init.AUTH_ID = auth.AUTH_ID; launch.init.REFRESH_ID = auth.REFRESH_ID; }
        done(auth);
      });
    },
    resizeWindow: function (params, done) {
      if (params && params.height) { frame.style.height = Math.max(200, Math.ceil(params.height)) + "px"; }
      done({ width: frame.clientWidth, height: frame.clientHeight });
    },
    getScrollSize: function (params, done) { done({ scrollWidth: frame.clientWidth, scrollHeight: frame.clientHeight }); },
    setTitle: function (params, done) { document.title = (params && params.title) || document.title; done(true); },
    selectUser: function (params, done) { openPicker(false, done); },
    selectUsers: function (params, done) { openPicker(true, done); },
    closeApplication: function (params, done) {
      done(true);
      window.location.href = "/?" + new URLSearchParams({ user: viewer.user, lang: viewer.lang });
    },
    reloadWindow: function (params, done) { done(true); window.location.reload(); },
    openPath: function (params, done) { openSlider(params && params.path, done); },
  };

  // BX24.openPath: the portal's own pages only ("/crm/...", "/telephony/..."), shown in a slider over the
  // portal page the way Bitrix24 shows entity cards; the app hears back when the slider closes.
  var SLIDER_PATHS = /^\/(crm|telephony|company)\//;
  var slider = null;

  function openSlider(path, done) {
    if (typeof path !== "string" || !SLIDER_PATHS.test(path) || path.indexOf("//") !== -1) {
      done({ result: "error", errorCode: "PATH_NOT_AVAILABLE" });
      return;
    }
    closeSlider();
    var url = new URL(path, window.location.origin);
    url.searchParams.set("user", viewer.user);
    url.searchParams.set("lang", viewer.lang);
    url.searchParams.set("IFRAME", "Y");
    url.searchParams.set("IFRAME_TYPE", "SIDE_SLIDER");
    var overlay = document.createElement("div");
    overlay.className = "b24-slider-overlay";
    overlay.id = "b24-slider";
    overlay.innerHTML = '<div class="b24-slider-panel"><button type="button" class="b24-slider-close" ' +
      'title="×" id="b24-slider-close">×</button><iframe class="b24-slider-frame" id="b24-slider-frame"></iframe></div>';
    overlay.querySelector("iframe").src = url.pathname + url.search;
    overlay.addEventListener("click", function (event) { if (event.target === overlay) { closeSlider(); } });
    overlay.querySelector(".b24-slider-close").addEventListener("click", closeSlider);
    document.body.appendChild(overlay);
    slider = { element: overlay, done: done };
  }

  function closeSlider() {
    if (!slider) { return; }
    var closing = slider;
    slider = null;
    closing.element.remove();
    closing.done({ result: "close" });
  }

  document.addEventListener("keydown", function (event) { if (event.key === "Escape") { closeSlider(); } });

  window.addEventListener("message", function (event) {
    if (event.source !== frame.contentWindow) { return; }
    var data = event.data;
    if (!data || data.bx24sandbox !== 1 || !data.method) { return; }
    if (event.origin !== appOrigin && event.origin !== "null") { return; }
    var handler = handlers[data.method];
    if (!handler) { reply(event.source, event.origin, data.id, { error: "unknown method " + data.method }); return; }
    handler(data.params || {}, function (result) { reply(event.source, event.origin, data.id, result); });
  });

  document.getElementById("app-launch").submit();
})();
