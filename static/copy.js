// Copy buttons: <button data-copy="element-id">; the label says "copied" for a moment.
(function () {
  var script = document.currentScript;
  var copiedLabel = (script && script.getAttribute('data-copied')) || 'Copied';
  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-copy]');
    if (!button) return;
    var source = document.getElementById(button.getAttribute('data-copy'));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = copiedLabel;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      if (source.select) source.select();
      try { document.execCommand('copy'); done(); } catch (e) { /* the text stays selected */ }
    }
  });
})();
