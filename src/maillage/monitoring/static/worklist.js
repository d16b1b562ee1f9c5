// Live worklist: reload the fragment when the server says alerts changed (server-sent events).
(function () {
  "use strict";
  var list = document.getElementById("worklist");
  if (!list || !window.EventSource) { return; }
  var source = new EventSource(list.getAttribute("data-stream"));
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    htmx.ajax("GET", list.getAttribute("data-fragment"), { target: "#worklist", swap: "innerHTML" })
      .then(function () {
        busy = false;
        list.setAttribute("data-refreshed", String(Date.now()));
        if (again) { again = false; refresh(); }
      }, function () { busy = false; });
  }
  source.addEventListener("worklist", refresh);
  source.addEventListener("open", function () { list.setAttribute("data-live", "on"); });
  source.addEventListener("error", function () { list.setAttribute("data-live", "reconnecting"); });
})();
