/* The app inside the Bitrix24 iframe: the frame follows the page's height (grows and shrinks) and links
 * to CRM entities open in the portal's slider (BX24.openPath) instead of a new tab. Outside the portal
 * (no BX24, or not framed) nothing changes: links stay ordinary links. */
(function () {
  if (!window.BX24 || window.parent === window) { return; }
  var sent = 0;
  var pending = false;

  // The content's own height: the document's scrollHeight never drops below the frame's current height,
  // so after a tall page it would keep the frame tall; the body's box does shrink.
  function contentHeight() {
    var body = document.body;
    if (!body) { return 0; }
    var style = window.getComputedStyle(body);
    return Math.ceil(body.getBoundingClientRect().height + parseFloat(style.marginTop || 0) +
                     parseFloat(style.marginBottom || 0));
  }

  function fit() {
    pending = false;
    var height = contentHeight();
    if (!height || Math.abs(height - sent) < 2) { return; }
    sent = height;
    document.documentElement.setAttribute('data-fitted-height', String(height));
    if (BX24.resizeWindow) {
      BX24.resizeWindow(document.documentElement.clientWidth || window.innerWidth, height);
    } else if (BX24.fitWindow) {
      BX24.fitWindow();
    }
  }

  function schedule() {
    if (pending) { return; }
    pending = true;
    window.requestAnimationFrame(fit);
  }

  BX24.init(function () {
    fit();
    if (window.ResizeObserver) {
      new ResizeObserver(schedule).observe(document.body);
    } else {
      setInterval(schedule, 500);
    }
    window.addEventListener('load', schedule);
    document.addEventListener('toggle', schedule, true);  // <details> opening or folding
  });

  // Entity links carry data-b24-path ("/crm/lead/details/1002/"): the portal opens them in its slider.
  document.addEventListener('click', function (event) {
    var link = event.target.closest('a[data-b24-path]');
    if (!link || !BX24.openPath || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    event.preventDefault();
    BX24.openPath(link.getAttribute('data-b24-path'), function (result) {
      // A portal that cannot open the path answers with an error: fall back to the ordinary link.
      if (result && result.result === 'error') { window.open(link.href, '_blank', 'noopener'); }
    });
  });
})();
