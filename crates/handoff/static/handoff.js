// The decision page: `a` approves (outside text fields), but only what has been on screen
// for a moment, and never twice; the edit form shows a word diff against the agent's
// version before it saves; a change by someone else disables the buttons until a reload.
(function () {
  "use strict";
  // Keys act only once the item has been visible this long (a press meant for the
  // previous page, or a double press, lands in this window and does nothing).
  var ARM_MS = 400;
  var live = document.getElementById("live");
  var article = document.querySelector("article.handoff");
  var bar = document.getElementById("decision-bar");
  var stale = document.getElementById("stale");
  var armed = false, sent = false, timer = null;
  function say(text) { if (live) { live.textContent = text; } }

  function arm() {
    if (document.visibilityState === "hidden") { return; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      armed = true;
      if (article) { article.setAttribute("data-keys", "armed"); }
    }, ARM_MS);
  }
  function disarm() {
    armed = false;
    clearTimeout(timer);
    if (article) { article.removeAttribute("data-keys"); }
  }
  // Counted from now: this script runs at the end of the page, as it is first shown. A
  // page shown again from the back-forward cache, or a tab brought back, starts the
  // count again.
  arm();
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { disarm(); } else { arm(); }
  });
  window.addEventListener("pageshow", function (ev) { if (ev.persisted) { sent = false; disarm(); arm(); } });
  // One decision per page: once a form is on its way, keys do nothing more.
  document.addEventListener("submit", function (ev) {
    if (!ev.defaultPrevented) { sent = true; disarm(); }
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.key !== "a" || ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) { return; }
    var t = ev.target;
    var tag = t && t.tagName ? t.tagName.toLowerCase() : "";
    if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) { return; }
    var form = document.getElementById("approve-form");
    var button = document.getElementById("approve");
    if (!form || !button) { return; }
    ev.preventDefault();
    if (!armed || sent || button.disabled) { return; }
    sent = true;
    disarm();
    form.requestSubmit(button);
  });

  // The bar's links open the form they point to.
  if (bar) {
    bar.addEventListener("click", function (ev) {
      var a = ev.target.closest ? ev.target.closest("a[data-open]") : null;
      var box = a && document.getElementById(a.getAttribute("data-open"));
      if (!box) { return; }
      ev.preventDefault();
      box.open = true;
      box.scrollIntoView({ block: "center" });
      var field = box.querySelector("textarea, select, summary");
      if (field) { field.focus({ preventScroll: true }); }
    });
  }

  // Longest common subsequence edit script, removals before additions in each run.
  function script(a, b) {
    var n = a.length, m = b.length, i, j;
    var pre = 0;
    while (pre < n && pre < m && a[pre] === b[pre]) { pre++; }
    var suf = 0;
    while (suf < n - pre && suf < m - pre && a[n - 1 - suf] === b[m - 1 - suf]) { suf++; }
    var out = [];
    for (i = 0; i < pre; i++) { out.push([" ", i, i]); }
    var an = n - pre - suf, bm = m - pre - suf;
    if ((an + 1) * (bm + 1) > 2000000) {
      for (i = 0; i < an; i++) { out.push(["-", pre + i]); }
      for (j = 0; j < bm; j++) { out.push(["+", pre + j]); }
    } else {
      var w = bm + 1, dp = new Int32Array((an + 1) * w);
      for (i = an - 1; i >= 0; i--) {
        for (j = bm - 1; j >= 0; j--) {
          dp[i * w + j] = a[pre + i] === b[pre + j] ? dp[(i + 1) * w + j + 1] + 1 : Math.max(dp[(i + 1) * w + j], dp[i * w + j + 1]);
        }
      }
      var dels = [], adds = [];
      i = 0; j = 0;
      while (i < an || j < bm) {
        if (i < an && j < bm && a[pre + i] === b[pre + j]) {
          out = out.concat(dels, adds); dels = []; adds = [];
          out.push([" ", pre + i, pre + j]); i++; j++;
        } else if (i < an && (j === bm || dp[(i + 1) * w + j] >= dp[i * w + j + 1])) {
          dels.push(["-", pre + i]); i++;
        } else {
          adds.push(["+", pre + j]); j++;
        }
      }
      out = out.concat(dels, adds);
    }
    for (i = 0; i < suf; i++) { out.push([" ", n - suf + i, m - suf + i]); }
    return out;
  }
  function tokens(s) { return s.match(/\n|[^\S\n]+|[^\s]+/g) || []; }
  function isWord(t) { return /\S/.test(t); }

  // The diff as `web/diff.rs` makes it for the page: lines, and words within changed blocks.
  function diff(oldText, newText) {
    var a = oldText.split("\n"), b = newText.split("\n");
    var ops = script(a, b), lines = [], counts = { changed: 0, added: 0, removed: 0 };
    var k = 0;
    while (k < ops.length) {
      if (ops[k][0] === " ") { lines.push(["same", [[a[ops[k][1]], false]]]); k++; continue; }
      var olds = [], news = [];
      while (k < ops.length && ops[k][0] !== " ") {
        if (ops[k][0] === "-") { olds.push(a[ops[k][1]]); } else { news.push(b[ops[k][1]]); }
        k++;
      }
      var ta = tokens(olds.join("\n")), tb = tokens(news.join("\n"));
      var ma = ta.map(function () { return true; }), mb = tb.map(function () { return true; });
      var rd = 0, ra = 0;
      var close = function () {
        var both = Math.min(rd, ra);
        counts.changed += both; counts.removed += rd - both; counts.added += ra - both;
        rd = 0; ra = 0;
      };
      script(ta, tb).forEach(function (op) {
        if (op[0] === " ") { ma[op[1]] = false; mb[op[2]] = false; close(); }
        else if (op[0] === "-") { rd += isWord(ta[op[1]]) ? 1 : 0; }
        else { ra += isWord(tb[op[1]]) ? 1 : 0; }
      });
      close();
      [["del", ta, ma, olds.length], ["add", tb, mb, news.length]].forEach(function (side) {
        if (!side[3]) { return; }
        var segs = [];
        side[1].forEach(function (t, x) {
          if (t === "\n") { lines.push([side[0], segs]); segs = []; } else { segs.push([t, side[2][x]]); }
        });
        lines.push([side[0], segs]);
      });
    }
    return { lines: lines, counts: counts };
  }
  function summary(c, differs) {
    var parts = [];
    var words = function (n, what) { return n + " word" + (n === 1 ? "" : "s") + " " + what; };
    if (c.changed) { parts.push(words(c.changed, "changed")); }
    if (c.added) { parts.push(words(c.added, "added")); }
    if (c.removed) { parts.push(words(c.removed, "removed")); }
    return parts.length ? parts.join(", ") : differs ? "only whitespace changed" : "no change";
  }

  var form = document.getElementById("edit-form");
  var editor = document.getElementById("draft-editor");
  var box = document.getElementById("diff-box");
  var pre = document.getElementById("diff");
  var save = document.getElementById("edit-save");
  function show() {
    var oldText = editor.getAttribute("data-original") || "";
    var newText = editor.value.replace(/\r\n/g, "\n");
    var d = diff(oldText, newText);
    while (pre.firstChild) { pre.removeChild(pre.firstChild); }
    d.lines.forEach(function (l) {
      var line = document.createElement("span");
      line.className = l[0];
      line.appendChild(document.createTextNode(l[0] === "del" ? "- " : l[0] === "add" ? "+ " : "  "));
      l[1].forEach(function (s) {
        if (s[1]) {
          var mark = document.createElement("mark");
          mark.textContent = s[0];
          line.appendChild(mark);
        } else {
          line.appendChild(document.createTextNode(s[0]));
        }
      });
      line.appendChild(document.createTextNode("\n"));
      pre.appendChild(line);
    });
    box.hidden = false;
    return summary(d.counts, oldText !== newText);
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
      var s = show();
      form.setAttribute("data-reviewed", "1");
      save.textContent = "Save edit and approve (" + s + ")";
      save.focus();
    });
  }

  // Someone else changed this handoff: say so next to the buttons and disable them, so
  // that nothing is decided on a version the reviewer has not seen.
  function outdated(e) {
    var text = "Changed by someone else (now " + e.status + ") — reload to see version " + e.version + ".";
    if (article) { article.setAttribute("data-stale", String(e.version)); }
    var buttons = document.querySelectorAll("form[action$='/decide'] button");
    for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = true; }
    if (stale) {
      while (stale.firstChild) { stale.removeChild(stale.firstChild); }
      stale.appendChild(document.createTextNode(text + " "));
      var reload = document.createElement("a");
      reload.href = window.location.pathname;
      reload.textContent = "Reload";
      stale.appendChild(reload);
      stale.hidden = false;
    } else {
      say(text);
    }
  }
  if (article && window.EventSource) {
    var id = article.getAttribute("data-id");
    var version = Number(article.getAttribute("data-version"));
    var es = new EventSource("/events");
    es.addEventListener("handoff", function (ev) {
      var e;
      try { e = JSON.parse(ev.data); } catch (_) { return; }
      if (e.id !== id || sent) { return; }
      if (typeof e.version === "number" ? e.version > version : e.status !== article.getAttribute("data-status")) {
        outdated(e);
      }
    });
  }
})();
