/* Keeps a desk page signed in while it is open (services/articles/sessions.py).

   The access token lives minutes, in an HttpOnly cookie this script cannot read; the
   page says how long it has left (<meta name="bantin-access-expires-in">). Before it runs
   out, POST /api/v1/auth/refresh renews it from the sign-in session. A tab that slept
   (timers stop) renews as soon as it is seen again. When the session has ended, the
   page gets a "bantin:session-ended" event; unless a listener calls preventDefault()
   (the article editor asks for the password in place), a notice links to the sign-in.

   window.BantinSession.renew() -> Promise<boolean>: renew now (true when it did). */
(function () {
  "use strict";

  var REFRESH_URL = "/api/v1/auth/refresh";
  var RETRY_MS = 30000;
  var renewAt = 0; // Date.now() after which the token should be renewed
  var timer = null;
  var pending = null;
  var ended = false;

  function secondsLeftFromPage() {
    var meta = document.querySelector('meta[name="bantin-access-expires-in"]');
    var value = meta ? parseInt(meta.getAttribute("content"), 10) : NaN;
    return isNaN(value) ? null : value;
  }

  // Renew a little before the end: a quarter of the lifetime early, at most a minute.
  function schedule(secondsLeft) {
    var margin = Math.min(60, secondsLeft / 4);
    var delayMs = Math.max(1, secondsLeft - margin) * 1000;
    renewAt = Date.now() + delayMs;
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(renew, delayMs);
  }

  function retryLater() {
    renewAt = Date.now() + RETRY_MS;
    if (timer) {
      clearTimeout(timer);
    }
    timer = setTimeout(renew, RETRY_MS);
  }

  function showEnded() {
    if (document.getElementById("session-notice")) {
      return;
    }
    var notice = document.createElement("p");
    notice.id = "session-notice";
    notice.className = "session-notice";
    notice.setAttribute("role", "alert");
    notice.appendChild(
      document.createTextNode("Phiên đăng nhập đã kết thúc. Những gì bạn chưa gửi vẫn còn trên trang này; ")
    );
    var link = document.createElement("a");
    var here = window.location.pathname + window.location.search;
    link.href = "/dang-nhap?next=" + encodeURIComponent(here);
    link.textContent = "đăng nhập lại";
    link.target = "_blank";
    link.rel = "noopener";
    notice.appendChild(link);
    notice.appendChild(document.createTextNode(" (trong thẻ mới) rồi gửi lại."));
    document.body.insertBefore(notice, document.body.firstChild);
  }

  function sessionEnded() {
    ended = true;
    var event;
    try {
      event = new CustomEvent("bantin:session-ended", { cancelable: true });
    } catch (e) {
      event = document.createEvent("CustomEvent");
      event.initCustomEvent("bantin:session-ended", false, true, null);
    }
    if (window.dispatchEvent(event)) {
      showEnded();
    }
  }

  function renew() {
    if (pending) {
      return pending;
    }
    pending = fetch(REFRESH_URL, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: "{}"
    })
      .then(function (response) {
        if (response.ok) {
          return response.json().then(function (answer) {
            ended = false;
            var notice = document.getElementById("session-notice");
            if (notice) {
              notice.parentNode.removeChild(notice);
            }
            schedule(answer.expires_in);
            return true;
          });
        }
        if (response.status === 401 || response.status === 403) {
          sessionEnded();
        } else {
          retryLater(); // the service is busy or restarting: try again soon
        }
        return false;
      })
      .catch(function () {
        retryLater(); // offline for a moment
        return false;
      })
      .then(function (renewed) {
        pending = null;
        return renewed;
      });
    return pending;
  }

  function renewIfDue() {
    if (!ended && renewAt && Date.now() >= renewAt) {
      renew();
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") {
      renewIfDue();
    }
  });
  window.addEventListener("focus", renewIfDue);
  window.addEventListener("online", renewIfDue);

  var secondsLeft = secondsLeftFromPage();
  if (secondsLeft !== null) {
    schedule(secondsLeft);
  }

  window.BantinSession = {
    renew: renew,
    // When the current access token should be renewed (ms since the epoch), for tests.
    renewsAt: function () {
      return renewAt;
    }
  };
})();
