/* The sub-table editor of nested lists (core/_lines.html): add, remove and move rows in place,
   tell the totals endpoint which input changed, and fill the inputs it sends back.
   Without this file the same buttons submit the form and the server redraws it. */
(function () {
  "use strict";
  if (window.crmLines) { return; }
  window.crmLines = true;

  function renumber(list) {
    var name = list.getAttribute("data-line-list");
    var pattern = new RegExp("^(f-)?" + name.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") + "-(\\d+|__row__)-");
    list.querySelectorAll("[data-line-body] > tr[data-line-row]").forEach(function (row, index) {
      row.querySelectorAll("[name], [id], [for], [aria-describedby], button[value]").forEach(function (el) {
        ["name", "id", "for", "aria-describedby"].forEach(function (attr) {
          var value = el.getAttribute(attr);
          if (value && pattern.test(value)) {
            el.setAttribute(attr, value.replace(pattern, function (_m, f) { return (f || "") + name + "-" + index + "-"; }));
          }
        });
        if (el.matches("button[value]")) {
          el.value = el.value.replace(/:(\d+|__row__)$/, ":" + index);
        }
      });
      row.querySelectorAll("[data-line-number]").forEach(function (el) { el.textContent = String(index + 1); });
    });
  }

  function changed(list) {
    if (window.htmx && list.hasAttribute("hx-post")) {
      window.htmx.trigger(list, "change");
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-line-op]");
    if (!button) { return; }
    var list = button.closest("[data-line-list]");
    if (!list) { return; }
    event.preventDefault();
    var body = list.querySelector("[data-line-body]");
    var op = button.getAttribute("data-line-op");
    var row = button.closest("tr[data-line-row]");
    var focus = null;
    if (op === "add") {
      var template = list.querySelector("template[data-line-template]");
      body.appendChild(template.content.cloneNode(true));
      row = body.lastElementChild;
      focus = row.querySelector("input, select");
    } else if (op === "remove" && row) {
      focus = (row.nextElementSibling || row.previousElementSibling);
      focus = focus ? focus.querySelector("button[data-line-op='remove']") : list.querySelector("button[data-line-op='add']");
      row.remove();
    } else if (op === "up" && row && row.previousElementSibling) {
      body.insertBefore(row, row.previousElementSibling);
      focus = button;
    } else if (op === "down" && row && row.nextElementSibling) {
      body.insertBefore(row.nextElementSibling, row);
      focus = button;
    }
    renumber(list);
    if (window.htmx) { window.htmx.process(body); }
    if (focus) { focus.focus(); }
    if (op !== "add") { changed(list); }
  });

  /* the totals endpoint refills the row whose reference changed: tell it which input it was
     (capturing, so the value is set before htmx reads the form) */
  function remember(event) {
    var source = event.target;
    var list = source && source.closest && source.closest("[data-line-list]");
    var box = list && list.querySelector("input[data-line-changed]");
    if (box && source.name) { box.value = source.name; }
  }
  document.addEventListener("change", remember, true);
  document.addEventListener("input", remember, true);

  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var box = event.target;
    if (!box || !box.hasAttribute || !box.hasAttribute("data-line-fill")) { return; }
    var values;
    try { values = JSON.parse(box.getAttribute("data-line-fill")); } catch (e) { return; }
    Object.keys(values).forEach(function (name) {
      var input = document.querySelector("[name='" + name.replace(/'/g, "") + "']");
      if (input && input !== document.activeElement) { input.value = values[name]; }
    });
  });
})();
