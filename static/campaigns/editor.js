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
      showVersion(data.version);
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

  // Versions per language: one panel shown at a time; the preview follows the panel shown.
  const versionState = document.getElementById("preview-version");
  const versionNote = document.getElementById("preview-version-note");
  const switcher = form.querySelector(".version-switch");
  const previewLanguage = document.getElementById("preview-language");
  const defaultSelect = form.querySelector("select[name=default_language]");
  const panels = Array.from(form.querySelectorAll("[data-version-panel]"));
  const tabs = switcher ? Array.from(switcher.querySelectorAll("[data-version-tab]")) : [];

  function showVersion(version) {
    if (!version || !versionState) return;
    versionState.textContent = (versionState.dataset.label || "Version") + ": " + version.name;
    versionState.dataset.versionLanguage = version.language;
    versionNote.textContent = version.note || "";
    versionNote.hidden = !version.note;
  }

  // The page's CSS gives .stack and .actions display:flex, which would override the hidden
  // attribute alone: set both.
  function setHidden(element, hidden) {
    element.hidden = hidden;
    element.style.display = hidden ? "none" : "";
  }

  function panelLanguage(panel) {
    return panel.dataset.versionPanel === "default" ? defaultSelect.value : panel.dataset.versionPanel;
  }

  function present(panel) {
    const box = panel.querySelector("input[type=checkbox][name$='-present']");
    return box ? box.checked : true;
  }

  function select(key) {
    for (const tab of tabs) tab.setAttribute("aria-pressed", String(tab.dataset.versionTab === key));
    for (const panel of panels) setHidden(panel, panel.dataset.versionPanel !== key);
    const panel = panels.find((p) => p.dataset.versionPanel === key);
    if (panel) previewLanguage.value = panelLanguage(panel);
  }

  function syncPanels() {
    // The default language's own version panel is only offered when it holds a version (an error).
    const chosen = defaultSelect.value;
    const label = defaultSelect.options[defaultSelect.selectedIndex].text;
    const legend = form.querySelector("[data-default-legend]");
    legend.textContent = legend.dataset.template + " (" + label + ")";
    for (const tab of tabs) {
      if (tab.dataset.versionTab === "default") {
        tab.textContent = tab.textContent.replace(/^[^(]*/, label + " ");
        continue;
      }
      const panel = panels.find((p) => p.dataset.versionPanel === tab.dataset.versionTab);
      setHidden(tab, tab.dataset.versionTab === chosen && !present(panel));
    }
    for (const panel of panels) {
      const fields = panel.querySelector("[data-version-fields]");
      if (fields) setHidden(fields, !present(panel));
    }
    const current = tabs.find((t) => t.getAttribute("aria-pressed") === "true");
    if (current && current.hidden) select("default");
    else if (current) select(current.dataset.versionTab);
  }

  if (switcher && defaultSelect) {
    setHidden(switcher, false);
    for (const tab of tabs) {
      tab.addEventListener("click", () => {
        select(tab.dataset.versionTab);
        schedule();
      });
    }
    defaultSelect.addEventListener("change", syncPanels);
    for (const panel of panels) {
      const box = panel.querySelector("input[type=checkbox][name$='-present']");
      if (box) box.addEventListener("change", syncPanels);
    }
    for (const button of form.querySelectorAll("[data-copy-default]")) {
      button.addEventListener("click", () => {
        const language = button.dataset.copyDefault;
        for (const name of ["subject", "preheader", "mjml_body", "text_body"]) {
          const source = form.elements[name];
          const target = form.elements["v-" + language + "-" + name];
          if (source && target) target.value = source.value;
        }
        const box = form.elements["v-" + language + "-present"];
        if (box) box.checked = true;
        syncPanels();
        schedule();
      });
    }
    select("default");
    syncPanels();
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
