// Bar widths from data-width="<percent>" (the Content Security Policy allows no inline style attributes;
// styles set from a script through the CSSOM are allowed).
(function () {
  "use strict";
  for (const bar of document.querySelectorAll("[data-width]")) {
    const percent = Math.max(0, Math.min(100, Number(bar.dataset.width) || 0));
    bar.style.width = percent + "%";
  }
})();
