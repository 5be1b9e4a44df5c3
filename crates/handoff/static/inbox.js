// The inbox's live updates: a handoff decided elsewhere leaves the list without a
// reload; new ones are announced. Plain JS, no dependencies; the page works without it.
(function () {
  "use strict";
  var OPEN = ["pending", "handed_over", "alerted", "acknowledged"];
  var live = document.getElementById("live");
  var fresh = 0, alerts = 0;
  function say(text) { if (live) { live.textContent = text; } }
  function row(id) {
    var rows = document.querySelectorAll("tr[data-id]");
    for (var i = 0; i < rows.length; i++) { if (rows[i].getAttribute("data-id") === id) { return rows[i]; } }
    return null;
  }
  // A reviewer's teams: a handoff escalated to another team leaves the list too.
  var table = document.querySelector("table.inbox[data-teams]");
  var mine = table ? table.getAttribute("data-teams").split(" ") : null;
  if (window.EventSource) {
    var es = new EventSource("/events");
    es.addEventListener("handoff", function (ev) {
      var e;
      try { e = JSON.parse(ev.data); } catch (_) { return; }
      var r = row(e.id);
      if (r && OPEN.indexOf(e.status) < 0) {
        r.parentNode.removeChild(r);
        say(e.id + " was decided elsewhere (" + e.status + ") and left the list.");
      } else if (r && mine && mine.indexOf(e.assigned_team) < 0) {
        r.parentNode.removeChild(r);
        say(e.id + " moved to team " + e.assigned_team + " and left the list.");
      } else if (!r && e.version === 1 && OPEN.indexOf(e.status) >= 0) {
        if (e.status === "alerted") { alerts += 1; } else { fresh += 1; }
        var parts = [];
        if (alerts) { parts.push(alerts + " new level-4 alert" + (alerts > 1 ? "s" : "")); }
        if (fresh) { parts.push(fresh + " new handoff" + (fresh > 1 ? "s" : "")); }
        say(parts.join(" and ") + " arrived; reload to see " + (alerts + fresh > 1 ? "them" : "it") + ".");
        if (alerts && live) { live.classList.add("live-alarm"); }
      }
    });
  }
  var batch = document.getElementById("batch-approve");
  if (batch) {
    var boxes = document.querySelectorAll("#batch-form input[type=checkbox]");
    var sync = function () {
      var n = 0;
      for (var i = 0; i < boxes.length; i++) { if (boxes[i].checked) { n++; } }
      batch.disabled = n === 0;
      batch.textContent = n ? "Approve " + n + " selected" : "Approve selected";
    };
    for (var i = 0; i < boxes.length; i++) { boxes[i].addEventListener("change", sync); }
    sync();
  }
})();
