// wotemu report: renders the Vega-Lite charts embedded in the page and makes tables sortable.
// Charts: every <div class="chart" data-spec="ID"> gets the spec in <script type="application/json" id="ID">.
(function () {
  "use strict";
  function renderCharts() {
    var nodes = document.querySelectorAll("div.chart[data-spec]");
    nodes.forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-spec"));
      if (!src) { return; }
      var spec = JSON.parse(src.textContent);
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
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(sortable);
    renderCharts();
  });
})();
