// The installer page: tell the portal the install is finished (BX24.installFinish), or say why not.
(function () {
  var state = document.getElementById('install-state');
  if (!state) { return; }
  if (!window.BX24) {
    state.dataset.state = 'no-bx24';
    state.textContent = state.getAttribute('data-no-bx24');
    return;
  }
  BX24.init(function () {
    BX24.installFinish();
    state.dataset.state = 'finished';
    state.textContent = state.getAttribute('data-finished');
  });
})();
