// The segment editor's live count: the filter is sent to count.json as it changes.
(function () {
  "use strict";
  const form = document.getElementById("segment-form");
  const out = document.getElementById("segment-count");
  if (!form || !out) return;
  let timer = null;
  let seq = 0;
  function update() {
    const data = new FormData(form);
    data.delete("csrfmiddlewaretoken");
    data.delete("name");
    const mine = ++seq;
    fetch(form.dataset.countUrl + "?" + new URLSearchParams(data).toString(), { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : null))
      .then((body) => { if (body && mine === seq) out.textContent = body.label; })
      .catch(() => {});
  }
  function later() { clearTimeout(timer); timer = setTimeout(update, 250); }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
