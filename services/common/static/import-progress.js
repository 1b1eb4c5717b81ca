/* The import's progress bar (/quan-tri/nhap-bai/{id}): asks the progress endpoint named by
   the page (data-progress-url) every second and moves the bar; once the import has ended,
   reloads the page, which then shows the summary. Without this file, the page reloads
   itself (a <noscript> refresh) and has a link to do so. */
(function () {
  "use strict";

  var box = document.querySelector("[data-progress-url]");
  if (!box) {
    return;
  }
  var bar = box.querySelector("progress");
  var text = box.querySelector(".import-progress-text");
  var url = box.getAttribute("data-progress-url");
  var failures = 0;

  function show(state) {
    if (state.total > 0) {
      bar.max = state.total;
      bar.value = state.done;
    }
    text.textContent = "Đã xử lý " + state.done + " / " + (state.total || "?") + " bài (" + state.percent + "%)";
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        failures = 0;
        show(state);
        if (state.status === "running") {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        // The sign-in may have ended, or the network dropped: after a few tries, say so
        // and leave it to the page's own reload link.
        failures += 1;
        if (failures < 5) {
          window.setTimeout(poll, 3000);
        } else {
          text.textContent = "Không lấy được tiến độ. Xin tải lại trang.";
        }
      });
  }

  window.setTimeout(poll, 500);
})();
