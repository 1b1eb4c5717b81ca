// The print view's "In bài viết" button: a file rather than an inline onclick, so the
// Content-Security-Policy needs no 'unsafe-inline' for scripts.
(function () {
  "use strict";
  var buttons = document.querySelectorAll("[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function () {
      window.print();
    });
  }
})();
