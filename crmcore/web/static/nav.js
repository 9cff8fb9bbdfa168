/* The main menu: on narrow screens one disclosure button shows and hides it; its module groups
   are <details> elements, of which one is open at a time. Without this file the menu is simply
   always shown. Also: a table or box that scrolls sideways on a narrow screen takes the keyboard
   focus, so it can be scrolled without a mouse. */
(function () {
  "use strict";
  var NARROW = window.matchMedia("(max-width: 47.99rem)");

  function setup() {
    var button = document.querySelector(".nav-toggle");
    var nav = document.getElementById("main-nav");
    if (!button || !nav) { return; }
    button.hidden = false;

    function show(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      nav.classList.toggle("collapsed", !open);
    }
    function fit() { show(!NARROW.matches); }
    fit();
    if (NARROW.addEventListener) { NARROW.addEventListener("change", fit); }

    button.addEventListener("click", function () {
      show(button.getAttribute("aria-expanded") !== "true");
    });

    var groups = nav.querySelectorAll("details");
    groups.forEach(function (group) {
      group.addEventListener("toggle", function () {
        if (!group.open) { return; }
        groups.forEach(function (other) { if (other !== group) { other.open = false; } });
      });
    });
    document.addEventListener("click", function (event) {
      if (NARROW.matches) { return; }
      groups.forEach(function (group) {
        if (group.open && !group.contains(event.target)) { group.open = false; }
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key !== "Escape") { return; }
      var closed = false;
      groups.forEach(function (group) {
        if (group.open && group.contains(document.activeElement)) {
          group.open = false;
          group.querySelector("summary").focus();
          closed = true;
        }
      });
      if (!closed && NARROW.matches && nav.contains(document.activeElement) &&
          button.getAttribute("aria-expanded") === "true") {
        show(false);
        button.focus();
      }
    });
  }

  function focusableScrollers(root) {
    root.querySelectorAll("main table, main .table-wrap, main .sales-board").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1 &&
        getComputedStyle(box).overflowX !== "visible";
      if (scrolls && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        box.setAttribute("data-scroll-focus", "");
      } else if (!scrolls && box.hasAttribute("data-scroll-focus")) {
        box.removeAttribute("tabindex");
        box.removeAttribute("data-scroll-focus");
      }
    });
  }

  function start() {
    setup();
    focusableScrollers(document);
    var timer;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { focusableScrollers(document); }, 100);
    });
    document.addEventListener("htmx:load", function (event) { focusableScrollers(event.target); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
