// Live preview for the campaign editor: posts the form (debounced) and shows HTML, text and errors.
(function () {
  "use strict";
  const form = document.getElementById("campaign-form");
  if (!form) return;
  const frame = document.getElementById("preview-html");
  const text = document.getElementById("preview-text");
  const errors = document.getElementById("preview-errors");
  const state = document.getElementById("preview-state");
  const subject = document.getElementById("preview-subject");
  const preheader = document.getElementById("preview-preheader");
  let timer = null;
  let latest = 0;

  const warnings = document.getElementById("preview-warnings");
  const fallback = document.getElementById("preview-fallback");

  function showProblems(target, list) {
    target.replaceChildren();
    target.hidden = list.length === 0;
    for (const problem of list) {
      const item = document.createElement("li");
      const line = target.dataset.lineLabel || "Line";
      const where = problem.line ? line + " " + problem.line + " (" + problem.part + "): " : "(" + problem.part + ") ";
      item.textContent = where + problem.message;
      target.appendChild(item);
    }
  }

  function showErrors(list) {
    showProblems(errors, list);
  }

  async function refresh() {
    const request = ++latest;
    state.textContent = "…";
    try {
      const response = await fetch(form.dataset.previewUrl, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-Requested-With": "fetch" },
        credentials: "same-origin",
      });
      if (request !== latest) return; // a newer keystroke already asked again
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      const data = await response.json();
      showErrors(data.errors);
      if (data.errors.length === 0) {
        frame.srcdoc = data.html;
        text.textContent = data.text;
        subject.textContent = data.subject;
        preheader.textContent = data.preheader;
        showProblems(warnings, data.warnings || []);
        fallback.textContent = data.recipient.note || "";
        fallback.hidden = !data.recipient.note;
      }
      state.textContent = "";
    } catch (error) {
      if (request === latest) state.textContent = String(error);
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  }

  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  document.getElementById("preview-subscriber").addEventListener("input", schedule);
  refresh();
})();
