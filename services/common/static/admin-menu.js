/* The desk's menu on a narrow screen (a tablet held upright, a phone): folded behind the
   "Danh mục quản trị" button, which opens and closes it (Enter or Space, as any button);
   Escape closes it and gives the focus back to the button. Without this file the menu is
   simply shown open: nothing depends on it. */
(function () {
  "use strict";

  var nav = document.querySelector(".admin-nav");
  var button = nav && nav.querySelector(".admin-menu-toggle");
  var menu = nav && document.getElementById("admin-menu");
  if (!button || !menu) {
    return;
  }

  function setOpen(open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("admin-menu-open", open);
  }

  nav.classList.add("admin-menu-folds");
  button.hidden = false;
  setOpen(false);

  button.addEventListener("click", function () {
    setOpen(button.getAttribute("aria-expanded") !== "true");
  });

  nav.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
      setOpen(false);
      button.focus();
    }
  });
})();
