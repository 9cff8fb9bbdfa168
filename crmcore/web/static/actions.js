/* Record actions: the action's link opens its dialog (without script it opens a page). */
(function () {
  "use strict";
  function dialogOf(link) {
    return document.getElementById(link.getAttribute("data-dialog") + "-dialog");
  }
  function open(dialog) {
    if (!dialog || typeof dialog.showModal !== "function") { return false; }
    if (dialog.open) { dialog.close(); }
    dialog.showModal();
    var first = dialog.querySelector("[aria-invalid=true], input, select, textarea");
    if (first) { first.focus(); }
    return true;
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-dialog]");
    if (link && open(dialogOf(link))) {
      event.preventDefault();
      return;
    }
    var close = event.target.closest && event.target.closest("[data-close-dialog]");
    if (close) {
      var dialog = close.closest("dialog");
      if (dialog) { dialog.close(); }
    }
  });
  document.addEventListener("DOMContentLoaded", function () {
    /* a submission the server refused comes back with its dialog open: make it modal */
    var failed = document.querySelector("dialog[data-reopen]");
    if (failed) { open(failed); return; }
    /* /leads/5#action-convert (the button beside a locked field) opens that action */
    var hash = window.location.hash.slice(1);
    var link = hash && document.querySelector('a[data-dialog="' + hash.replace(/[^\w-]/g, "") + '"]');
    if (link) { open(dialogOf(link)); }
  });
})();
