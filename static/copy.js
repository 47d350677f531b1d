/* Copy buttons: <button data-copy="element-id">. Inside the portal's iframe the clipboard API is refused
 * (the frame has no clipboard-write permission), so a refusal falls back to selecting the text and
 * execCommand("copy"); when that fails too the text stays selected and the user is told to press Ctrl+C.
 * Every press ends with visible feedback next to the button. */
(function () {
  var script = document.currentScript;
  var copiedLabel = (script && script.getAttribute('data-copied')) || 'Copied';
  var pressLabel = (script && script.getAttribute('data-press')) || 'Press Ctrl+C';
  if (/Mac|iPhone|iPad/.test(navigator.platform || '')) { pressLabel = pressLabel.replace('Ctrl+C', '⌘C'); }

  function feedbackOf(button) {
    var id = button.getAttribute('data-copy') + '-copy-feedback';
    var note = document.getElementById(id);
    if (!note) {
      note = document.createElement('span');
      note.id = id;
      note.className = 'copy-feedback';
      note.setAttribute('role', 'status');
      note.setAttribute('aria-live', 'polite');
      button.insertAdjacentElement('afterend', note);
    }
    return note;
  }

  function say(button, text, ok) {
    var note = feedbackOf(button);
    note.textContent = text;
    note.className = 'copy-feedback ' + (ok ? 'copy-feedback-ok' : 'copy-feedback-manual');
    clearTimeout(note._timer);
    if (ok) { note._timer = setTimeout(function () { note.textContent = ''; }, 2500); }
  }

  function selectAll(source) {
    if (source.select) {
      source.focus();
      source.select();
      if (source.setSelectionRange) { source.setSelectionRange(0, source.value.length); }
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function fallback(button, source) {
    selectAll(source);
    var copied = false;
    try { copied = document.execCommand('copy'); } catch (e) { copied = false; }
    if (copied) { say(button, copiedLabel, true); } else { say(button, pressLabel, false); }
  }

  document.addEventListener('click', function (event) {
    var button = event.target.closest('[data-copy]');
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute('data-copy'));
    if (!source) { return; }
    var text = source.value !== undefined ? source.value : source.textContent;
    if (navigator.clipboard && navigator.clipboard.writeText && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        selectAll(source);
        say(button, copiedLabel, true);
      }, function () { fallback(button, source); });
    } else {
      fallback(button, source);
    }
  });
})();
