// Canned responses on a ticket's reply form: choosing one inserts its text at the cursor of the
// message box (the agent edits it before sending). Loaded as a file: no inline script allowed.
document.addEventListener("change", function (event) {
  var select = event.target.closest("select[data-insert-into]");
  if (!select) return;
  var option = select.options[select.selectedIndex];
  var box = document.getElementById(select.dataset.insertInto);
  if (!box || !option || !option.value) return;
  var text = option.dataset.body || "";
  var start = box.selectionStart || 0, end = box.selectionEnd || 0;
  var before = box.value.slice(0, start), after = box.value.slice(end);
  var spacer = before && !/\s$/.test(before) ? "\n" : "";
  box.value = before + spacer + text + after;
  box.focus();
  box.selectionStart = box.selectionEnd = (before + spacer + text).length;
  select.value = "";
});
