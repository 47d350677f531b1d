/* Behaviour shared by the pages of both sides: selects that navigate, and an empty filter condition
 * flagged next to itself as soon as it is left empty (the server flags it too when the form comes back). */
(function () {
  document.querySelectorAll('select[data-navigate]').forEach(function (select) {
    select.addEventListener('change', function () { if (select.value) { window.location.href = select.value; } });
  });

  function flagCondition(select) {
    var row = select.closest('.filter-cond');
    if (!row) { return; }
    var note = row.querySelector('.filter-cond-empty');
    var empty = !select.value;
    row.classList.toggle('is-empty', empty);
    if (note) { note.hidden = !empty; }
  }
  document.querySelectorAll('.filter-cond select.filter-field').forEach(function (select) {
    select.addEventListener('change', function () { flagCondition(select); });
  });
})();
