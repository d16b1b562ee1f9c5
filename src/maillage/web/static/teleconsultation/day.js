// The practitioner's day: reload the table when the server says an appointment changed (server-sent events).
(function () {
  "use strict";
  var day = document.getElementById("day");
  if (!day || !window.EventSource) { return; }
  var source = new EventSource(day.getAttribute("data-stream"));
  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    htmx.ajax("GET", day.getAttribute("data-fragment"), { target: "#day", swap: "innerHTML" })
      .then(function () {
        busy = false;
        day.setAttribute("data-refreshed", String(Date.now()));
        if (again) { again = false; refresh(); }
      }, function () { busy = false; });
  }
  source.addEventListener("day", refresh);
  source.addEventListener("open", function () { day.setAttribute("data-live", "on"); });
  source.addEventListener("error", function () { day.setAttribute("data-live", "reconnecting"); });
})();
