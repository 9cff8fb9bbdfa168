/* Reference pickers: each <div data-picker> holding a <select> becomes an ARIA 1.2 combobox
   (an editable input with a list box) that searches the records the user may read as they type.
   Keys: Down/Up move through the list (Down opens it), Enter picks, Escape closes the list or
   puts back the chosen title, Home/End jump. The <select> stays in the form, hidden, and carries
   the value; without this file it is the picker. */
(function () {
  "use strict";
  var counter = 0;

  function enhance(root) {
    if (root.dataset.enhanced) { return; }
    var select = root.querySelector("select");
    if (!select) { return; }
    root.dataset.enhanced = "1";
    counter += 1;
    var baseId = select.id || "picker-" + counter;
    var listId = baseId + "-listbox";
    var input = document.createElement("input");
    var list = document.createElement("ul");
    var status = document.createElement("span");
    var options = [];
    var active = -1;
    var timer = null;
    var request = 0;

    select.id = baseId + "-select";
    select.hidden = true;
    select.setAttribute("aria-hidden", "true");
    select.tabIndex = -1;
    input.id = baseId;
    input.type = "text";
    input.className = "picker-input";
    input.autocomplete = "off";
    input.maxLength = 200;
    input.placeholder = root.dataset.placeholder || "";
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", listId);
    ["aria-invalid", "aria-describedby"].forEach(function (name) {
      if (select.hasAttribute(name)) { input.setAttribute(name, select.getAttribute(name)); }
    });
    list.id = listId;
    list.className = "picker-list";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    var label = document.querySelector("label[for='" + baseId + "']");
    if (label) {
      label.id = label.id || baseId + "-label";
      list.setAttribute("aria-labelledby", label.id);
    }
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    root.appendChild(input);
    root.appendChild(list);
    root.appendChild(status);
    input.value = chosenTitle();

    function chosenTitle() {
      var option = select.options[select.selectedIndex];
      return option && option.value ? option.textContent : "";
    }

    function choose(id, title) {
      var found = Array.prototype.find.call(select.options, function (o) { return o.value === id; });
      if (!found) {
        found = new Option(title, id);
        select.appendChild(found);
      }
      select.value = id;
      input.value = id ? title : "";
      select.dispatchEvent(new Event("change", { bubbles: true }));
      close();
    }

    function open() {
      if (!options.length && !status.textContent) { return; }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var items = list.querySelectorAll("[role=option]");
      if (!items.length) { return; }
      active = (index + items.length) % items.length;
      items.forEach(function (item, i) {
        item.setAttribute("aria-selected", i === active ? "true" : "false");
      });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }

    function render(found, show) {
      options = found;
      list.textContent = "";
      found.forEach(function (option, i) {
        var item = document.createElement("li");
        item.id = listId + "-" + i;
        item.setAttribute("role", "option");
        item.setAttribute("aria-selected", "false");
        item.dataset.value = option.id;
        item.textContent = option.title;
        list.appendChild(item);
      });
      if (!found.length) {
        var empty = document.createElement("li");
        empty.className = "picker-empty";
        empty.textContent = root.dataset.none || "";
        list.appendChild(empty);
      }
      if (!show) { return; }
      status.textContent = found.length ? String(found.length) : (root.dataset.none || "");
      open();
      if (found.length) { highlight(0); }
    }

    function search(words, show) {
      request += 1;
      var mine = request;
      var url = root.dataset.source + "?format=json&q=" + encodeURIComponent(words);
      fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : { options: [] }; })
        .then(function (body) {
          if (mine === request && document.activeElement === input) { render(body.options || [], show); }
        })
        .catch(function () { /* the list simply stays as it was */ });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { search(input.value.trim(), true); }, 200);
    });

    input.addEventListener("keydown", function (event) {
      var expanded = !list.hidden;
      switch (event.key) {
        case "ArrowDown":
          event.preventDefault();
          if (!expanded) {
            if (options.length) { open(); highlight(0); } else { search(input.value.trim(), true); }
          } else { highlight(active + 1); }
          break;
        case "ArrowUp":
          event.preventDefault();
          if (expanded) { highlight(active - 1); }
          break;
        case "Home":
        case "End":
          if (expanded && options.length) {
            event.preventDefault();
            highlight(event.key === "Home" ? 0 : options.length - 1);
          }
          break;
        case "Enter":
          if (expanded && active >= 0) {
            event.preventDefault();  // picking must not submit the form
            choose(String(options[active].id), options[active].title);
          }
          break;
        case "Escape":
          if (expanded) {
            event.preventDefault();
            event.stopPropagation();
            close();
          } else if (input.value !== chosenTitle()) {
            event.preventDefault();
            input.value = chosenTitle();
          }
          break;
        case "Tab":
          close();
          break;
      }
    });

    input.addEventListener("blur", function () {
      // an emptied box clears the reference; other typing that picked nothing is undone
      setTimeout(function () {
        if (root.contains(document.activeElement)) { return; }
        if (!input.value.trim()) {
          if (select.value) { choose("", ""); }
        } else if (input.value !== chosenTitle()) {
          input.value = chosenTitle();
        }
        close();
      }, 150);
    });

    input.addEventListener("focus", function () {
      if (!options.length) { search("", false); }
    });

    list.addEventListener("mousedown", function (event) {
      event.preventDefault();  // keep the focus in the input
      var item = event.target.closest("[role=option]");
      if (item) { choose(item.dataset.value, item.textContent); }
    });
  }

  function enhanceAll(scope) {
    (scope || document).querySelectorAll("[data-picker]").forEach(enhance);
  }

  document.addEventListener("DOMContentLoaded", function () { enhanceAll(document); });
  document.addEventListener("htmx:load", function (event) { enhanceAll(event.target); });
})();
