// wotemu report: renders the Vega-Lite charts of the page and makes tables sortable.
// Charts: every <div class="chart" data-spec="ID"> gets the chart ID of the page's
// <script type="application/json" id="charts"> ({ID: {"s": template id, "d": rows}, …}). The template (the spec without its rows) is window.WOTEMU_SPECS[id], from
// static/specs.js, shared by every page; the rows are columnar (reporter/src/compact.rs says how).
(function () {
  "use strict";
  function column(col, n) {
    if (Array.isArray(col)) { return col; }
    var out = new Array(n), i;
    if (col.m) {
      for (i = 0; i < n; i++) { out[i] = col.d[i % col.d.length]; }
      return out;
    }
    if (col.k) {
      for (i = 0; i < n; i++) { out[i] = col.b + Math.floor(i / col.k) * col.s; }
      return out;
    }
    for (i = 0; i < n; i++) {
      var k = col.i[i];
      out[i] = (k === null || k === undefined) ? null : (col.d ? col.d[k] : col.b + k * col.s);
    }
    return out;
  }
  function rows(d) {
    var out = new Array(d.n), i, name;
    for (i = 0; i < d.n; i++) { out[i] = {}; }
    for (name in d.c) {
      if (!Object.prototype.hasOwnProperty.call(d.c, name)) { continue; }
      var col = d.c[name];
      if (col["="] !== undefined) { col = d.c[col["="]]; }
      var vals = column(col, d.n);
      for (i = 0; i < d.n; i++) { out[i][name] = vals[i]; }
    }
    return out;
  }
  function chartSpec(part) {
    var template = (window.WOTEMU_SPECS || {})[part.s];
    if (!template) { throw new Error("no chart template " + part.s + " in static/specs.js"); }
    var spec = JSON.parse(JSON.stringify(template));
    if (part.d) {
      spec.data = spec.data || {};
      spec.data.values = rows(part.d);
    }
    return spec;
  }
  function caption(el, spec) {
    var fig = el.closest("figure");
    var cap = fig && fig.querySelector("figcaption");
    if (cap && spec.description && !cap.querySelector(".muted")) {
      var note = document.createElement("span");
      note.className = "muted";
      note.textContent = " — " + spec.description;
      cap.appendChild(note);
    }
  }
  function renderCharts() {
    var nodes = document.querySelectorAll("div.chart[data-spec]");
    var src = document.getElementById("charts");
    var parts = src ? JSON.parse(src.textContent) : {};
    nodes.forEach(function (el) {
      var part = parts[el.getAttribute("data-spec")];
      if (!part) { return; }
      var spec;
      try {
        spec = chartSpec(part);
      } catch (err) {
        el.setAttribute("data-rendered", "error");
        el.textContent = "This chart could not be drawn: " + err;
        return;
      }
      caption(el, spec);
      el.setAttribute("role", "img");
      el.setAttribute("aria-label", typeof spec.title === "string" ? spec.title : (spec.description || "chart"));
      // Links from chart marks (a task in a chart opens its page) stay inside the site.
      window.vegaEmbed(el, spec, { actions: { export: true, source: false, compiled: false, editor: false },
                                   renderer: "svg", tooltip: true })
        .then(function () { el.setAttribute("data-rendered", "true"); })
        .catch(function (err) {
          el.setAttribute("data-rendered", "error");
          el.textContent = "This chart could not be drawn: " + err;
        });
    });
  }
  function sortable(table) {
    var heads = table.querySelectorAll("thead th");
    heads.forEach(function (th, col) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      var sort = function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v") || a.cells[col].textContent;
          var y = b.cells[col].getAttribute("data-v") || b.cells[col].textContent;
          var nx = parseFloat(x), ny = parseFloat(y);
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  }
  // The chart libraries and the site's chart templates are loaded here, in order, and only by pages with
  // charts: every page names this one script.
  var root = (document.currentScript && document.currentScript.src || "").replace(/static\/app\.js(\?.*)?$/, "");
  function load(srcs, done) {
    if (!srcs.length) { done(); return; }
    var s = document.createElement("script");
    s.src = root + srcs[0];
    s.onload = function () { load(srcs.slice(1), done); };
    s.onerror = function () {
      document.querySelectorAll("div.chart[data-spec]").forEach(function (el) {
        el.setAttribute("data-rendered", "error");
        el.textContent = "This chart could not be drawn: " + srcs[0] + " did not load.";
      });
    };
    document.head.appendChild(s);
  }
  function ready(f) {
    if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", f); } else { f(); }
  }
  ready(function () {
    document.querySelectorAll("table.sortable").forEach(sortable);
    if (document.querySelector("div.chart[data-spec]")) {
      load(["vendor/vega.min.js", "vendor/vega-lite.min.js", "vendor/vega-embed.min.js", "static/specs.js"],
           renderCharts);
    }
  });
})();
