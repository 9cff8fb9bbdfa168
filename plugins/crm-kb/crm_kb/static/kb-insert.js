// "Insert in reply" on the ticket panel: puts an article's title and public address into the
// ticket's reply box at the cursor. Loaded as a file: the pages allow no inline script.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.kb-insert");
  if (!button) return;
  var box = document.querySelector("textarea#reply-body, textarea[name=body]");
  if (!box) return;
  var text = button.dataset.title + ": " + button.dataset.url;
  var start = box.selectionStart || 0, end = box.selectionEnd || 0;
  var before = box.value.slice(0, start), after = box.value.slice(end);
  var spacer = before && !/\s$/.test(before) ? "\n" : "";
  box.value = before + spacer + text + "\n" + after;
  box.focus();
  box.selectionStart = box.selectionEnd = (before + spacer + text + "\n").length;
});
