"""The report page: the figures as JSON in the page, drawn as SVG by an inline script.

Nothing is fetched: no font, no library, no network. Each chart is an ``<svg
data-chart=...>`` whose marks carry their values (``data-value``) so a test, or a person
with the page's inspector, can read what was drawn.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict

from stockbridge.report.data import ReportData

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px;
         color: #222; padding: 0 1rem; }
  h1 { font-size: 1.5rem; margin-bottom: .2rem; }
  h2 { font-size: 1.1rem; margin: 2rem 0 .4rem; }
  .note { color: #666; }
  svg { width: 100%; height: auto; background: #fafafa; border: 1px solid #eee; }
  .legend span { display: inline-block; margin-right: 1.2rem; }
  .legend i { display: inline-block; width: .9rem; height: .9rem; margin-right: .3rem;
              vertical-align: -2px; }
  text { font-size: 11px; fill: #555; }
</style>
</head>
<body>
<h1>__TITLE__</h1>
<p class="note">Last __DAYS__ days, in the store's time zone; made __GENERATED__
from the ledger.</p>
<h2>Stock of chosen articles, end of each day</h2>
<div class="legend" id="stock-legend"></div>
<svg data-chart="stock" viewBox="0 0 1000 300"></svg>
<h2>Lines applied and rejected per day</h2>
<div class="legend"><span><i style="background:#2e7d32"></i>applied</span>
<span><i style="background:#c62828"></i>rejected</span></div>
<svg data-chart="lines" viewBox="0 0 1000 240"></svg>
<h2>Runs and failed runs per day</h2>
<div class="legend"><span><i style="background:#1565c0"></i>runs</span>
<span><i style="background:#ef6c00"></i>failed</span></div>
<svg data-chart="runs" viewBox="0 0 1000 240"></svg>
<script type="application/json" id="report-data">__DATA__</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var COLOURS = ["#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037"];
  var M = {left: 56, right: 12, top: 12, bottom: 28};

  function el(parent, name, attributes, text) {
    var node = document.createElementNS(NS, name);
    for (var key in attributes) node.setAttribute(key, attributes[key]);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }
  function box(svg) {
    var v = svg.viewBox.baseVal;
    return {w: v.width - M.left - M.right, h: v.height - M.top - M.bottom, height: v.height};
  }
  function scale(lo, hi, size) {
    if (hi === lo) { hi = lo + 1; }
    return function (value) { return M.top + size - (value - lo) / (hi - lo) * size; };
  }
  function axes(svg, b, lo, hi, y) {
    for (var i = 0; i <= 4; i++) {
      var value = lo + (hi - lo) * i / 4;
      var at = y(value);
      el(svg, "line", {x1: M.left, x2: M.left + b.w, y1: at, y2: at, stroke: "#e4e4e4"});
      el(svg, "text", {x: M.left - 6, y: at + 4, "text-anchor": "end"},
         Math.round(value * 100) / 100);
    }
    var step = Math.max(1, Math.ceil(data.days.length / 10));
    data.days.forEach(function (day, n) {
      if (n % step) return;
      var x = M.left + (n + 0.5) * b.w / data.days.length;
      el(svg, "text", {x: x, y: b.height - 8, "text-anchor": "middle"}, day.slice(5));
    });
  }
  function bars(name, series) {
    var svg = document.querySelector('svg[data-chart="' + name + '"]');
    var b = box(svg);
    var hi = 0;
    series.forEach(function (s) { s.values.forEach(function (v) { hi = Math.max(hi, v); }); });
    hi = Math.max(4, Math.ceil(hi / 4) * 4);  // counts: whole numbers on the axis
    var y = scale(0, hi, b.h);
    axes(svg, b, 0, hi, y);
    var slot = b.w / data.days.length, width = slot * 0.8 / series.length;
    series.forEach(function (s, k) {
      s.values.forEach(function (value, n) {
        var x = M.left + n * slot + slot * 0.1 + k * width;
        var rect = el(svg, "rect", {
          "class": "bar", x: x, y: y(value), width: width, height: M.top + b.h - y(value),
          fill: s.colour, "data-series": s.name, "data-day": data.days[n], "data-value": value
        });
        el(rect, "title", {}, data.days[n] + ": " + value + " " + s.name);
      });
    });
  }
  function lines() {
    var svg = document.querySelector('svg[data-chart="stock"]');
    var legend = document.getElementById("stock-legend");
    var b = box(svg);
    var names = Object.keys(data.stock);
    if (!names.length) {
      el(svg, "text", {x: 500, y: 150, "text-anchor": "middle"}, "no movements in these days");
      return;
    }
    var lo = Infinity, hi = -Infinity;
    names.forEach(function (r) {
      data.stock[r].forEach(function (v) { lo = Math.min(lo, v); hi = Math.max(hi, v); });
    });
    lo = Math.min(lo, 0);
    var y = scale(lo, hi, b.h);
    axes(svg, b, lo, hi, y);
    var slot = b.w / data.days.length;
    names.forEach(function (reference, k) {
      var colour = COLOURS[k % COLOURS.length];
      var points = data.stock[reference].map(function (value, n) {
        return [M.left + (n + 0.5) * slot, y(value)];
      });
      var d = points.map(function (p, n) {
        return (n ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1);
      });
      var path = el(svg, "path", {
        "class": "series", d: d.join(" "), fill: "none", stroke: colour, "stroke-width": 2,
        "data-reference": reference, "data-points": points.length,
        "data-last": data.stock[reference][points.length - 1]
      });
      el(path, "title", {}, reference);
      var item = document.createElement("span");
      item.innerHTML = '<i style="background:' + colour + '"></i>';
      item.appendChild(document.createTextNode(reference));
      legend.appendChild(item);
    });
  }
  lines();
  bars("lines", [
    {name: "applied", colour: "#2e7d32", values: data.lines_applied},
    {name: "rejected", colour: "#c62828", values: data.lines_rejected}
  ]);
  bars("runs", [
    {name: "runs", colour: "#1565c0", values: data.runs},
    {name: "failed", colour: "#ef6c00", values: data.failures}
  ]);
  document.body.setAttribute("data-drawn", "yes");
})();
</script>
</body>
</html>
"""


def render(data: ReportData) -> str:
    """The whole page as text. The JSON is made safe inside ``<script>`` (no ``</``)."""
    payload = json.dumps(asdict(data), ensure_ascii=False)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(f"{data.store}: stock, lines and runs")
    return (
        PAGE.replace("__TITLE__", title)
        .replace("__DAYS__", str(len(data.days)))
        .replace("__GENERATED__", html.escape(data.generated))
        .replace("__DATA__", payload)
    )
