/* The donor dashboard: coverage per district and quarterly charts, from the insight API. */
(function () {
  "use strict";
  var A = window.Alluvial;
  var t = A.t;
  var status = document.getElementById("dash-status");
  var fromSelect = document.getElementById("d-from");
  var toSelect = document.getElementById("d-to");
  var charts = document.getElementById("charts");
  var coverageBody = document.querySelector("#coverage-table tbody");
  var METRICS = [
    "purchases", "purchases_inside_licensed_site", "sites_visited", "diggers_counted"
  ];
  var COVERAGE = [
    ["sites_known", "number"], ["sites_licensed", "number"],
    ["share_sites_licensed", "percent"], ["miners_registered", "number"],
    ["diggers_counted", "number"], ["purchases", "number"],
    ["purchases_inside_licensed_site", "number"],
    ["share_purchases_inside_licensed_site", "percent"], ["sites_not_visited", "number"]
  ];
  var coverageRows = [];

  function quarters(count) {
    var now = new Date();
    var year = now.getUTCFullYear();
    var q = Math.floor(now.getUTCMonth() / 3) + 1;
    var out = [];
    for (var i = 0; i < count; i++) {
      out.unshift(year + "-Q" + q);
      q -= 1;
      if (q === 0) { q = 4; year -= 1; }
    }
    return out;
  }

  function fillPeriods() {
    var all = quarters(12);
    all.forEach(function (key) {
      fromSelect.appendChild(A.el("option", key, { value: key }));
      toSelect.appendChild(A.el("option", key, { value: key }));
    });
    fromSelect.value = all[all.length - 4];
    toSelect.value = all[all.length - 1];
  }

  function drawCoverage(items) {
    coverageRows = items;
    while (coverageBody.firstChild) { coverageBody.removeChild(coverageBody.firstChild); }
    items.forEach(function (row) {
      var tr = A.el("tr", null, { "data-district": row.district });
      tr.appendChild(A.el("th", row.district, { scope: "row" }));
      COVERAGE.forEach(function (c) {
        var value = row[c[0]];
        var shown = c[1] === "percent" ? A.percent(value) : A.number(value);
        tr.appendChild(A.el("td", shown, {
          "data-field": c[0], "data-value": value === null ? "" : String(value)
        }));
      });
      coverageBody.appendChild(tr);
    });
  }

  function barChart(metric, totals, keys) {
    var ns = "http://www.w3.org/2000/svg";
    var width = 480, height = 220, left = 48, bottom = 28, top = 16;
    var max = Math.max.apply(null, keys.map(function (k) { return totals[k]; }).concat([1]));
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-labelledby", "cap-" + metric);
    svg.setAttribute("class", "bars");
    var band = (width - left) / keys.length;
    keys.forEach(function (k, i) {
      var h = (height - bottom - top) * totals[k] / max;
      var rect = document.createElementNS(ns, "rect");
      rect.setAttribute("x", String(left + i * band + band * 0.15));
      rect.setAttribute("y", String(height - bottom - h));
      rect.setAttribute("width", String(band * 0.7));
      rect.setAttribute("height", String(h));
      var title = document.createElementNS(ns, "title");
      title.textContent = k + ": " + A.number(totals[k]);
      rect.appendChild(title);
      svg.appendChild(rect);
      var label = document.createElementNS(ns, "text");
      label.setAttribute("x", String(left + i * band + band / 2));
      label.setAttribute("y", String(height - 8));
      label.setAttribute("text-anchor", "middle");
      label.textContent = k;
      svg.appendChild(label);
      var value = document.createElementNS(ns, "text");
      value.setAttribute("x", String(left + i * band + band / 2));
      value.setAttribute("y", String(Math.max(top, height - bottom - h - 4)));
      value.setAttribute("text-anchor", "middle");
      value.textContent = A.number(totals[k]);
      svg.appendChild(value);
    });
    var axis = document.createElementNS(ns, "line");
    axis.setAttribute("x1", String(left)); axis.setAttribute("x2", String(width));
    axis.setAttribute("y1", String(height - bottom)); axis.setAttribute("y2", String(height - bottom));
    svg.appendChild(axis);
    return svg;
  }

  function drawCharts(items, keys) {
    while (charts.firstChild) { charts.removeChild(charts.firstChild); }
    METRICS.forEach(function (metric) {
      var totals = {};
      keys.forEach(function (k) { totals[k] = 0; });
      items.forEach(function (row) {
        if (totals[row.quarter] !== undefined) { totals[row.quarter] += Number(row[metric]); }
      });
      var figure = A.el("figure", null, { class: "chart", "data-metric": metric });
      figure.appendChild(A.el("figcaption", t("dash.m_" + metric), { id: "cap-" + metric }));
      figure.appendChild(barChart(metric, totals, keys));
      var table = A.el("table", null, { class: "chart-data" });
      var head = A.el("tr");
      head.appendChild(A.el("th", t("dash.quarter"), { scope: "col" }));
      head.appendChild(A.el("th", t("dash.all_districts_total"), { scope: "col" }));
      table.appendChild(A.el("thead")).appendChild(head);
      var body = table.appendChild(A.el("tbody"));
      keys.forEach(function (k) {
        var tr = A.el("tr");
        tr.appendChild(A.el("th", k, { scope: "row" }));
        tr.appendChild(A.el("td", A.number(totals[k]), { "data-value": String(totals[k]) }));
        body.appendChild(tr);
      });
      var details = A.el("details");
      details.appendChild(A.el("summary", t("dash.show_figures")));
      details.appendChild(table);
      figure.appendChild(details);
      var button = A.el("button", t("dash.download_csv"), {
        type: "button", class: "secondary", "data-csv": metric
      });
      button.addEventListener("click", function () {
        A.downloadCSV(metric + ".csv", ["district", "quarter", metric], items.map(function (r) {
          return [r.district, r.quarter, r[metric]];
        }));
      });
      figure.appendChild(button);
      charts.appendChild(figure);
    });
  }

  function keysBetween(first, last) {
    var all = quarters(12);
    return all.slice(all.indexOf(first), all.indexOf(last) + 1);
  }

  var generation = 0;
  async function refreshTrends() {
    var mine = ++generation;
    var first = fromSelect.value, last = toSelect.value;
    if (first > last) { status.textContent = t("dash.bad_range"); return; }
    status.textContent = t("map.loading");
    try {
      var trends = await A.getJSON("/api/v1/insight/coverage/trends?from=" + first + "&to=" + last);
      if (mine !== generation) { return; }
      drawCharts(trends.items, keysBetween(first, last));
      status.textContent = t("dash.ready", { districts: coverageRows.length });
      charts.dataset.ready = "true";
    } catch (err) {
      status.textContent = err.status === 403 ? t("error.forbidden") : t("map.failed");
    }
  }

  async function start() {
    fillPeriods();
    try {
      var coverage = await A.getJSON("/api/v1/insight/coverage");
      drawCoverage(coverage.items);
    } catch (err) {
      status.textContent = err.status === 403 ? t("error.forbidden") : t("map.failed");
      return;
    }
    document.getElementById("coverage-csv").addEventListener("click", function () {
      A.downloadCSV("coverage.csv", ["district"].concat(COVERAGE.map(function (c) {
        return c[0];
      })), coverageRows.map(function (r) {
        return [r.district].concat(COVERAGE.map(function (c) { return r[c[0]]; }));
      }));
    });
    fromSelect.addEventListener("change", refreshTrends);
    toSelect.addEventListener("change", refreshTrends);
    await refreshTrends();
  }

  start();
})();
