// The article page's view beacon (DESIGN, the view flow): one POST /api/v1/views when the
// page is read. A file rather than inline code, so the Content-Security-Policy needs no
// 'unsafe-inline' for scripts; the page names its article in data-article-id:
//   <script src="/static/beacon.js" data-article-id="123" defer></script>
// Without JavaScript the page's <noscript> pixel counts instead.
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-article-id]");
  var id = script ? Number(script.getAttribute("data-article-id")) : NaN;
  if (!(id > 0) || !navigator.sendBeacon) {
    return;
  }
  navigator.sendBeacon("/api/v1/views", JSON.stringify({ article_id: id }));
})();
