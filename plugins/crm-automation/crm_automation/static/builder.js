// The rule builder: show only the settings of the chosen trigger and of each action's kind.
// Without JavaScript every setting stays visible and the server ignores the unused ones.
(function () {
  "use strict";
  function sync(select) {
    var scope = select.getAttribute("data-switch");
    var chosen = scope + ":" + select.value;
    document.querySelectorAll("[data-for]").forEach(function (el) {
      var keys = el.getAttribute("data-for").split(" ");
      if (keys[0].split(":")[0] !== scope) { return; }
      el.hidden = keys.indexOf(chosen) === -1;
    });
  }
  document.querySelectorAll("select[data-switch]").forEach(function (select) {
    sync(select);
    select.addEventListener("change", function () { sync(select); });
  });
})();
