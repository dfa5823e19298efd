// The staff inbox, live: the open conversation sends a heartbeat (who views, who types) and
// gets the thread again when it changed; a queue reloads its table when it changed.
// Polling, not a held-open connection: see the README ("Live updates in the inbox").
(function () {
  "use strict";

  const CONVERSATION_SECONDS = 4;  // presence needs to be near-live; the answer is small when nothing changed
  const QUEUE_SECONDS = 15;        // a queue is fine a few seconds late

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function every(seconds, tick, later) {
    // Not while the tab is hidden; at once when it becomes visible again (and at the start,
    // unless `later`: a page rendered just now needs no refresh yet).
    let timer = null;
    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(run, seconds * 1000);
    }
    function run() {
      if (document.hidden) { schedule(); return; }
      Promise.resolve(tick()).catch(function () {}).finally(schedule);
    }
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { run(); } });
    if (later) { schedule(); } else { run(); }
  }

  // --- The open conversation -----------------------------------------------------------------
  const thread = document.getElementById("replies-thread-live");
  if (thread) {
    const presenceLine = document.getElementById("replies-presence");
    const composer = document.getElementById("replies-composer");
    let lastKey = 0;
    if (composer) {
      composer.addEventListener("input", function () { lastKey = Date.now(); });
    }
    function names(template, list) {
      return template.replace("%(names)s", list.join(", "));
    }
    every(CONVERSATION_SECONDS, function () {
      const body = new URLSearchParams();
      body.set("version", thread.dataset.version || "");
      body.set("typing", Date.now() - lastKey < CONVERSATION_SECONDS * 1000 ? "1" : "0");
      return fetch(thread.dataset.liveUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
        body: body,
        credentials: "same-origin",
      }).then(function (response) { return response.ok ? response.json() : null; }).then(function (data) {
        if (!data) { return; }
        if (data.html !== undefined) {
          thread.innerHTML = data.html;
          thread.dataset.version = data.version;
        }
        if (presenceLine) {
          const parts = [];
          if (data.typing.length) { parts.push(names(presenceLine.dataset.typing, data.typing)); }
          if (data.viewing.length) { parts.push(names(presenceLine.dataset.viewing, data.viewing)); }
          presenceLine.textContent = parts.join(" · ");
        }
      });
    });
  }

  // --- Never two answers by accident: before sending, ask whether someone else answered since
  // the page was loaded (the server checks again, for pages without this script).
  const sendForm = document.getElementById("replies-composer");
  const collision = document.getElementById("replies-collision-dialog");
  const liveBox = document.getElementById("replies-thread-live");
  if (sendForm && collision && liveBox) {
    const seenField = sendForm.querySelector("input[name=seen_answer]");
    const confirmField = sendForm.querySelector("input[name=confirm]");
    let checked = false;
    let pendingSubmitter = null;
    function submitNow() {
      checked = true;
      if (pendingSubmitter) { sendForm.requestSubmit(pendingSubmitter); } else { sendForm.requestSubmit(); }
    }
    collision.querySelector("[data-collision=send]").addEventListener("click", function () {
      if (confirmField) { confirmField.value = "True"; }
      collision.close();
      submitNow();
    });
    collision.querySelector("[data-collision=cancel]").addEventListener("click", function () { collision.close(); });
    sendForm.addEventListener("submit", function (event) {
      if (checked || (confirmField && confirmField.value === "True")) { return; }
      event.preventDefault();
      pendingSubmitter = event.submitter || null;
      const body = new URLSearchParams();
      body.set("version", liveBox.dataset.version || "");
      body.set("seen_answer", seenField ? seenField.value : "");
      fetch(liveBox.dataset.liveUrl, {
        method: "POST",
        headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/x-www-form-urlencoded" },
        body: body,
        credentials: "same-origin",
      }).then(function (response) { return response.ok ? response.json() : { answers_since: [] }; })
        .catch(function () { return { answers_since: [] }; })
        .then(function (data) {
          if (!data.answers_since || !data.answers_since.length) { submitNow(); return; }
          const box = collision.querySelector(".replies-collision-answers");
          box.replaceChildren();
          for (const answer of data.answers_since) {
            const who = document.createElement("p");
            who.className = "help";
            who.textContent = answer.name;
            const text = document.createElement("pre");
            text.className = "replies-text";
            text.textContent = answer.text;
            box.append(who, text);
            if (seenField) { seenField.value = answer.id; }
          }
          collision.showModal();
        });
    });
  }

  // --- The draft: kept in this browser while typing, so a reload or a closed tab loses nothing ---
  const draftForm = document.getElementById("replies-composer");
  const draftField = document.getElementById("id_text");
  if (draftForm && draftField && window.localStorage) {
    const key = draftForm.dataset.draftKey;
    const state = document.getElementById("replies-draft-state");
    const kept = localStorage.getItem(key);
    if (kept && !draftField.value.trim()) {
      draftField.value = kept;
      if (state) { state.textContent = state.dataset.saved; }
    }
    let saveTimer = null;
    draftField.addEventListener("input", function () {
      clearTimeout(saveTimer);
      saveTimer = setTimeout(function () {
        if (draftField.value.trim()) {
          localStorage.setItem(key, draftField.value);
          if (state) { state.textContent = state.dataset.saved; }
        } else {
          localStorage.removeItem(key);
          if (state) { state.textContent = ""; }
        }
      }, 300);
    });
    draftForm.addEventListener("submit", function (event) {
      if (event.defaultPrevented) { return; }  // held back (someone else answered): keep the draft
      clearTimeout(saveTimer);
      localStorage.removeItem(key);
    });
  }

  // --- Saved replies in the composer ----------------------------------------------------------
  const picker = document.querySelector(".replies-saved-picker");
  const answerField = document.getElementById("id_text");
  if (picker && answerField) {
    const search = document.getElementById("id_saved_reply_search");
    const list = document.getElementById("replies-saved-results");
    const savedField = document.getElementById("id_saved_reply");
    let timer = null;
    function insert(item) {
      const start = answerField.selectionStart || 0;
      const end = answerField.selectionEnd || 0;
      const before = answerField.value.slice(0, start);
      const after = answerField.value.slice(end);
      answerField.value = before + item.text + after;
      if (savedField) { savedField.value = item.id; }
      answerField.dispatchEvent(new Event("input", { bubbles: true }));
      answerField.focus();
      picker.open = false;
    }
    function load() {
      return fetch(picker.dataset.url + "?q=" + encodeURIComponent(search.value), { credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          list.replaceChildren();
          for (const item of data.results) {
            const li = document.createElement("li");
            const button = document.createElement("button");
            button.type = "button";
            button.className = "link";
            button.textContent = item.title;
            button.title = item.text;
            button.dataset.savedReply = item.id;
            button.addEventListener("click", function () { insert(item); });
            const scope = document.createElement("span");
            scope.className = "help";
            scope.textContent = " " + item.scope;
            li.append(button, scope);
            list.append(li);
          }
        });
    }
    picker.addEventListener("toggle", function () { if (picker.open) { load(); search.focus(); } });
    search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(load, 200); });
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); const first = list.querySelector("button"); if (first) { first.click(); } }
    });
  }

  // --- A queue --------------------------------------------------------------------------------
  const queue = document.getElementById("replies-queue-live");
  if (queue) {
    every(QUEUE_SECONDS, function () {
      return fetch(queue.dataset.liveUrl, {
        headers: { "If-None-Match": queue.dataset.version || "" },
        credentials: "same-origin",
      }).then(function (response) {
        if (response.status !== 200) { return; }
        queue.dataset.version = response.headers.get("ETag") || "";
        return response.text().then(function (html) { queue.innerHTML = html; });
      });
    }, true);
  }

  // --- Keyboard shortcuts (listed on "?") -------------------------------------------------------
  const shortcuts = document.getElementById("replies-shortcuts");
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]") !== null;
  }
  function click(selector) {
    const element = document.querySelector(selector);
    if (element) { element.click(); return true; }
    return false;
  }
  function focus(selector) {
    const element = document.querySelector(selector);
    if (element) { element.scrollIntoView({ block: "center" }); element.focus(); return true; }
    return false;
  }
  let row = -1;
  function rows() { return Array.from(document.querySelectorAll(".replies-queue tbody tr")); }
  function choose(step) {
    const all = rows();
    if (!all.length) { return false; }
    row = Math.max(0, Math.min(all.length - 1, row + step));
    all.forEach(function (tr, index) { tr.classList.toggle("replies-chosen", index === row); });
    const link = all[row].querySelector("a");
    if (link) { link.focus(); }
    return true;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    let done = false;
    switch (event.key) {
      case "?": if (shortcuts) { shortcuts.showModal(); done = true; } break;
      case "/": done = focus("#id_inbox_search"); break;
      case "j": done = rows().length ? choose(1) : click("[data-shortcut=next]"); break;
      case "k": done = rows().length ? choose(-1) : false; break;
      case "r": done = focus("#id_text"); break;
      case "n": done = focus("#id_note_text"); break;
      case "c": done = click("[data-shortcut=close]"); break;
      case "m": done = click("[data-shortcut=assign-me]"); break;
    }
    if (done) { event.preventDefault(); }
  });
})();
