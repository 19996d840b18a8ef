// ferry's site console: follows an upgrade or a rollback on the progress
// page without reloading it. Every page works without this script.
(function () {
  "use strict";
  var root = document.getElementById("progress");
  if (!root || root.getAttribute("data-running") !== "true" || !window.XMLHttpRequest) return;
  var label = document.getElementById("details-label").innerHTML;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.appendChild(document.createTextNode(text));
    return e;
  }
  function details(text) {
    var d = el("details"), s = el("summary");
    s.innerHTML = label;
    d.appendChild(s);
    d.appendChild(el("pre", "", text));
    return d;
  }
  function fill(id, items) {
    var list = document.getElementById(id);
    while (list.firstChild) list.removeChild(list.firstChild);
    for (var i = 0; i < items.length; i++) list.appendChild(items[i]);
  }
  function show(v) {
    var steps = [], log = [], i;
    for (i = 0; i < (v.steps || []).length; i++) steps.push(el("li", v.steps[i].state, v.steps[i].name));
    fill("steps", steps);
    for (i = 0; i < (v.events || []).length; i++) {
      var li = el("li"), ev = v.events[i];
      li.appendChild(el("time", "", ev.time));
      li.appendChild(document.createTextNode(" " + ev.text));
      if (ev.detail) li.appendChild(details(ev.detail));
      log.push(li);
    }
    fill("log", log);
    var bar = document.getElementById("bar");
    if (v.percent >= 0) {
      bar.hidden = false;
      document.getElementById("bar-value").value = v.percent;
    } else bar.hidden = true;
    if (v.outcome) {
      var box = el("div", "box " + (v.outcome === "done" ? "good" : v.outcome === "put-back" ? "warn" : "bad"));
      box.appendChild(el("p", "big", v.result));
      if (v.detail) box.appendChild(details(v.detail));
      fill("outcome", [box]);
    }
  }
  function poll() {
    var x = new XMLHttpRequest();
    x.open("GET", "/progress.json");
    x.timeout = 15000;
    x.onload = function () {
      if (x.status !== 200) { location.reload(); return; }
      var v = JSON.parse(x.responseText);
      show(v);
      if (v.running) setTimeout(poll, 2000);
    };
    x.onerror = x.ontimeout = function () { setTimeout(poll, 5000); };
    x.send();
  }
  setTimeout(poll, 1000);
})();
