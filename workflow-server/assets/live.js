// Live updates of a run's page: the server sends an event each time the run
// moves; the parts of the page that move are fetched again and swapped in.
// Open <details>, the focused field and a half-written answer are kept.
(function () {
  "use strict";
  var root = document.querySelector("[data-live]");
  if (!root || !window.EventSource || !window.fetch) return;
  var streamUrl = root.getAttribute("data-live");
  var fragmentUrl = root.getAttribute("data-fragment");
  var busy = false, again = false;

  function swap(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    var open = {};
    document.querySelectorAll("#live details[open][id]").forEach(function (d) { open[d.id] = true; });
    var live = t.content.getElementById("live"), oldLive = document.getElementById("live");
    if (live && oldLive) {
      live.querySelectorAll("details[id]").forEach(function (d) { if (open[d.id]) d.setAttribute("open", ""); });
      oldLive.replaceWith(live);
    }
    // The forms are replaced only when what they answer changed, so typing is never lost.
    var decide = t.content.getElementById("decide"), oldDecide = document.getElementById("decide");
    if (decide && oldDecide && decide.getAttribute("data-key") !== oldDecide.getAttribute("data-key")) {
      oldDecide.replaceWith(decide);
    }
    var line = t.content.getElementById("status-line"), oldLine = document.getElementById("status-line");
    if (line && oldLine && line.textContent !== oldLine.textContent) oldLine.textContent = line.textContent;
    document.body.setAttribute("data-run-status", (root.querySelector("#live .badge") || {}).textContent || "");
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(fragmentUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) swap(html); })
      .catch(function () {})
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }

  var events = new EventSource(streamUrl);
  events.addEventListener("run", refresh);
})();
