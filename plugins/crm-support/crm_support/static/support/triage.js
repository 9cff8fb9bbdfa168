/* Keyboard triage on the ticket queue: j/k move, Enter opens, a assigns to me, s solves.
   Loaded as a file (the page policy allows no inline script). Without it the buttons work. */
(function () {
  "use strict";
  var index = -1;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-triage-row]"));
  }

  function select(i) {
    var all = rows();
    if (!all.length) { return; }
    index = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (row, n) {
      row.classList.toggle("selected", n === index);
      row.setAttribute("aria-selected", n === index ? "true" : "false");
    });
    all[index].focus();
  }

  function press(selector) {
    var row = rows()[index];
    var el = row && row.querySelector(selector);
    if (el) { el.click(); }
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("input[type=checkbox][data-autosubmit]") && el.form) {
      el.form.requestSubmit();
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target.closest && target.closest("input, textarea, select, [contenteditable]")) { return; }
    if (!document.getElementById("triage")) { return; }
    if (event.key === "j") { select(index + 1); event.preventDefault(); }
    else if (event.key === "k") { select(index - 1); event.preventDefault(); }
    else if (event.key === "a" && index >= 0) { press("[data-triage-assign]"); }
    else if (event.key === "s" && index >= 0) { press("[data-triage-solve]"); }
    else if (event.key === "Enter" && index >= 0) { press("[data-triage-open]"); }
  });
})();
