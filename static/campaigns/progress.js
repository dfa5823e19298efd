// Polls a campaign's progress JSON while it is sending and updates the bar and the stats.
(function () {
  "use strict";
  const section = document.getElementById("progress");
  if (!section) return;
  const active = new Set(["sending", "scheduled"]);

  async function poll() {
    try {
      const response = await fetch(section.dataset.progressUrl, { credentials: "same-origin" });
      if (!response.ok) return;
      const data = await response.json();
      for (const node of section.querySelectorAll("[data-stat]")) {
        const key = node.dataset.stat;
        if (key === "progress") node.style.width = data.progress_percent + "%";
        else if (key in data) node.textContent = data[key];
      }
      section.querySelector(".progress").setAttribute("aria-valuenow", data.progress_percent);
      const badge = document.querySelector("[data-campaign-status]");
      if (badge) badge.textContent = data.status_label;
      if (data.status !== section.dataset.status && !active.has(data.status)) {
        window.location.reload(); // finished or stopped: show the final actions
        return;
      }
      // Every 1.5 s, slower for big campaigns: each poll counts every delivery.
      if (active.has(data.status)) setTimeout(poll, Math.max(1500, Math.min(10000, data.audience / 100)));
    } catch (error) {
      setTimeout(poll, 5000);
    }
  }
  if (active.has(section.dataset.status)) poll();
})();
