// The import's live progress bar: polls progress.json until the import is done, then reloads
// the page for the report.
(function () {
  "use strict";
  const box = document.getElementById("import-progress");
  if (!box || box.dataset.finished) return;
  const bar = document.getElementById("import-bar");
  const done = document.getElementById("import-done");
  const percent = document.getElementById("import-percent");
  const status = document.getElementById("import-status");
  function poll() {
    fetch(box.dataset.progressUrl, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => {
        if (!body) { setTimeout(poll, 1000); return; }
        bar.setAttribute("aria-valuenow", String(body.percent));
        bar.firstElementChild.style.width = body.percent + "%";
        done.textContent = String(body.done);
        percent.textContent = String(body.percent);
        status.textContent = body.status_label;
        if (body.finished) { setTimeout(() => window.location.reload(), 400); return; }
        setTimeout(poll, 500);
      })
      .catch(() => setTimeout(poll, 2000));
  }
  poll();
})();
