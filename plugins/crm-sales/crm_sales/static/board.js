/* Drag and drop on the deal board: PATCH /sales/deals/<id>/stage, then move the card.
   Without this file each card's select and Move button do the same. */
(function () {
  "use strict";
  var board = document.querySelector(".sales-board");
  if (!board) { return; }
  var csrf = board.getAttribute("data-csrf");
  var status = document.getElementById("board-status");
  var dragged = null;

  function columnOf(el) { return el && el.closest ? el.closest(".sales-column") : null; }

  function recount() {
    board.querySelectorAll(".sales-column").forEach(function (column) {
      var count = column.querySelector(".sales-count");
      if (count) { count.textContent = column.querySelectorAll(".sales-card").length; }
    });
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".sales-card[draggable='true']");
    if (!card) { return; }
    dragged = card;
    card.classList.add("sales-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-deal-id"));
  });

  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("sales-dragging"); }
    board.querySelectorAll(".sales-drop-target").forEach(function (c) {
      c.classList.remove("sales-drop-target");
    });
    dragged = null;
  });

  board.addEventListener("dragover", function (event) {
    var column = columnOf(event.target);
    if (!dragged || !column) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("sales-drop-target");
  });

  board.addEventListener("dragleave", function (event) {
    var column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) {
      column.classList.remove("sales-drop-target");
    }
  });

  board.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    var card = dragged;
    if (!card || !column) { return; }
    event.preventDefault();
    column.classList.remove("sales-drop-target");
    var stageId = column.getAttribute("data-stage-id");
    if (columnOf(card) === column) { return; }
    fetch(card.getAttribute("data-move-url"), {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ stage_id: Number(stageId) })
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (!result.ok) {
        status.textContent = result.data.detail || "The deal could not be moved.";
        return;
      }
      column.querySelector(".sales-cards").appendChild(card);
      var select = card.querySelector("select[name='stage_id']");
      if (select) { select.value = String(result.data.stage_id); }
      card.setAttribute("data-stage-id", String(result.data.stage_id));
      recount();
      status.textContent = "Moved.";
    }).catch(function () {
      status.textContent = "The deal could not be moved.";
    });
  });
})();
