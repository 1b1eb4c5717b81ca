/* The moderation desk's keyboard shortcuts (optional: every action is a plain form that
   works without this file). On the queue, with a case focused (Tab, or a click inside it):
   "a" approves it, "r" moves to its list of reject reasons. Keys typed into a field, or
   with Ctrl, Alt or Meta, are left alone. */
(function () {
  "use strict";

  function caseOf(element) {
    return element && element.closest ? element.closest(".desk-case") : null;
  }

  function typing(element) {
    var tag = element && element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (element && element.isContentEditable);
  }

  document.addEventListener("click", function (event) {
    var item = caseOf(event.target);
    if (item && !typing(event.target) && event.target.tagName !== "A" && event.target.tagName !== "BUTTON") {
      item.focus();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.altKey || event.metaKey || typing(event.target)) {
      return;
    }
    var item = caseOf(document.activeElement);
    if (!item) {
      return;
    }
    var key = event.key.toLowerCase();
    if (key === "a") {
      var approve = item.querySelector(".desk-approve");
      if (approve) {
        event.preventDefault();
        approve.requestSubmit ? approve.requestSubmit() : approve.submit();
      }
    } else if (key === "r") {
      var reasons = item.querySelector(".desk-reject select");
      if (reasons) {
        event.preventDefault();
        reasons.focus();
      }
    }
  });
})();
