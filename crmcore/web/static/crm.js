/* Small progressive enhancements; every page works without this file. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) {
      el.form.requestSubmit();
    }
  });

  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = button && button.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var popup = document.getElementById("search-popup");
    if (popup && popup.contains(document.activeElement) || event.target.id === "global-search") {
      popup.innerHTML = "";
      document.getElementById("global-search").focus();
    }
  });

  /* Dashboard charts: the data sits in data-chart (JSON); Chart.js is loaded only where needed. */
  var PALETTE = ["#1f5fbf", "#e07b00", "#1a7f37", "#b42318", "#6e40c9", "#0e7c86", "#9a6700"];
  function drawCharts(root) {
    if (typeof window.Chart === "undefined") { return; }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      var config;
      try { config = JSON.parse(canvas.getAttribute("data-chart")); } catch (e) { return; }
      var round = config.type === "pie" || config.type === "doughnut";
      config.data.datasets.forEach(function (set, i) {
        var colour = PALETTE[i % PALETTE.length];
        set.backgroundColor = round ? PALETTE.slice(0, set.data.length) : colour;
        set.borderColor = round ? "#fff" : colour;
      });
      config.options = {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: round || config.data.datasets.length > 1 } }
      };
      canvas.dataset.drawn = "1";
      new window.Chart(canvas, config);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary") || document.getElementById("conflict");
    if (summary) { summary.focus(); }
    drawCharts(document);
  });
  document.addEventListener("htmx:load", function (event) { drawCharts(event.target); });
})();
