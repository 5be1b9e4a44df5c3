// The decision page: `a` approves (outside text fields); the edit form shows a line diff
// against the agent's version before it saves; a decision made elsewhere is announced.
(function () {
  "use strict";
  var live = document.getElementById("live");
  function say(text) { if (live) { live.textContent = text; } }

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "a" || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) { return; }
    var t = ev.target;
    var tag = t && t.tagName ? t.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) { return; }
    var form = document.getElementById("approve-form");
    if (form) { ev.preventDefault(); form.requestSubmit(); }
  });

  // Longest common subsequence of lines; fine for drafts (256 KiB at most).
  function diff(a, b) {
    var n = a.length, m = b.length, i, j;
    if (n * m > 4000000) { return null; }
    var dp = [];
    for (i = 0; i <= n; i++) { dp.push(new Int32Array(m + 1)); }
    for (i = n - 1; i >= 0; i--) {
      for (j = m - 1; j >= 0; j--) {
        dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
      }
    }
    var out = [];
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; }
      else if (j < m && (i === n || dp[i][j + 1] >= dp[i + 1][j])) { out.push(["+", b[j]]); j++; }
      else { out.push(["-", a[i]]); i++; }
    }
    return out;
  }

  var form = document.getElementById("edit-form");
  var editor = document.getElementById("draft-editor");
  var box = document.getElementById("diff-box");
  var pre = document.getElementById("diff");
  var save = document.getElementById("edit-save");
  function show() {
    var a = (editor.getAttribute("data-original") || "").split("\n");
    var b = editor.value.replace(/\r\n/g, "\n").split("\n");
    var d = diff(a, b);
    while (pre.firstChild) { pre.removeChild(pre.firstChild); }
    var changed = 0;
    if (!d) {
      pre.textContent = "(too long to compare line by line)";
    } else {
      d.forEach(function (l) {
        if (l[0] !== " ") { changed++; }
        var s = document.createElement("span");
        s.className = l[0] === "+" ? "add" : l[0] === "-" ? "del" : "same";
        s.textContent = l[0] + " " + l[1] + "\n";
        pre.appendChild(s);
      });
    }
    box.hidden = false;
    return changed;
  }
  if (form && editor && pre && save) {
    editor.addEventListener("input", function () {
      if (form.getAttribute("data-reviewed")) {
        form.removeAttribute("data-reviewed");
        save.textContent = "Review changes";
      }
    });
    save.textContent = "Review changes";
    form.addEventListener("submit", function (ev) {
      if (form.getAttribute("data-reviewed")) { return; }
      ev.preventDefault();
      var n = show();
      form.setAttribute("data-reviewed", "1");
      save.textContent = "Save edit and approve (" + n + " changed line" + (n === 1 ? "" : "s") + ")";
      save.focus();
    });
  }

  var article = document.querySelector("article.handoff");
  if (article && window.EventSource) {
    var id = article.getAttribute("data-id");
    var es = new EventSource("/events");
    es.addEventListener("handoff", function (ev) {
      var e;
      try { e = JSON.parse(ev.data); } catch (_) { return; }
      if (e.id === id && e.status !== article.getAttribute("data-status")) {
        say("This handoff changed meanwhile: it is now " + e.status + ". Reload before deciding.");
      }
    });
  }
})();
