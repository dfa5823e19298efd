/* Draws a chart above the table of every <figure class="chart" data-chart="line|bar|stacked-bar">
 * (templates/includes/chart.html). The table stays: it is the chart's text for screen readers
 * and for anyone without scripts. Needs static/vendor/chartjs/chart.umd.min.js loaded first. */
(function () {
  "use strict";
  // Colours that keep at least 3:1 against white and can be told apart by most colour-blind readers.
  var PALETTE = ["#1f5fbf", "#b3261e", "#1b6e45", "#8a5200", "#6b3fa0", "#00707a"];

  function number(cell) {
    if (!cell.hasAttribute("data-value")) return null;
    var value = parseFloat(cell.getAttribute("data-value"));
    return isNaN(value) ? null : value;
  }

  function draw(figure) {
    var table = figure.querySelector("table.chart-data");
    if (!table || figure.querySelector("canvas")) return;
    var kind = figure.getAttribute("data-chart") || "line";
    var heads = table.querySelectorAll("thead th");
    var rows = table.querySelectorAll("tbody tr");
    var labels = [];
    var datasets = [];
    for (var s = 1; s < heads.length; s++) {
      var colour = PALETTE[(s - 1) % PALETTE.length];
      datasets.push({ label: heads[s].textContent.trim(), data: [], borderColor: colour,
                      backgroundColor: colour, spanGaps: false, tension: 0.2, pointRadius: 2 });
    }
    rows.forEach(function (row) {
      labels.push(row.cells[0].textContent.trim());
      for (var s = 1; s < row.cells.length && s <= datasets.length; s++) {
        datasets[s - 1].data.push(number(row.cells[s]));
      }
    });
    var box = document.createElement("div");
    box.className = "chart-canvas";
    var canvas = document.createElement("canvas");
    var caption = figure.querySelector("figcaption");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", (caption ? caption.textContent.trim() + ". " : "") +
                        (figure.getAttribute("data-table-hint") || ""));
    box.appendChild(canvas);
    figure.insertBefore(box, caption ? caption.nextSibling : figure.firstChild);
    var stacked = kind === "stacked-bar";
    var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    new window.Chart(canvas, {
      type: kind === "line" ? "line" : "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: reduced ? false : { duration: 300 },
        maintainAspectRatio: false,
        locale: document.documentElement.lang || "en",
        interaction: { mode: "index", intersect: false },
        plugins: { legend: { display: datasets.length > 1 } },
        scales: { x: { stacked: stacked }, y: { stacked: stacked, beginAtZero: true } }
      }
    });
    figure.classList.add("chart-drawn");
  }

  function drawAll() {
    if (!window.Chart) return;
    document.querySelectorAll("figure.chart").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
  window.RundbriefCharts = { drawAll: drawAll };
})();
