// Messaging, live: the inbox reloads its list, an open thread its messages, when the server says a thread changed
// (server-sent events carrying a thread id only). Forms marked data-confirm ask before a destructive action.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });
  var box = document.getElementById("thread") || document.getElementById("inbox");
  if (!box || !window.EventSource) { return; }
  var only = box.getAttribute("data-thread");
  var source = new EventSource(box.getAttribute("data-stream"));
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    htmx.ajax("GET", box.getAttribute("data-fragment"), { target: "#" + box.id, swap: "innerHTML" })
      .then(function () {
        busy = false;
        box.setAttribute("data-refreshed", String(Date.now()));
        if (again) { again = false; refresh(); }
      }, function () { busy = false; });
  }
  source.addEventListener("thread", function (event) {
    if (!only || event.data === only) { refresh(); }
  });
  source.addEventListener("open", function () { box.setAttribute("data-live", "on"); });
  source.addEventListener("error", function () { box.setAttribute("data-live", "reconnecting"); });
})();
