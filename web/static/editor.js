// Profile editor: a textarea with a line-number gutter (no soft wrap, so the numbers match the
// lines the server's errors name) and the line an error names highlighted — its number in the
// gutter and a band across the text — until the text changes. No build step, no library.
// Any `.editor` holding a `.gutter` and a `textarea` gets it; pages fill the textarea and send
// an `input` event, or `wowlab:error-line` ({line}) to mark a line (app.js does for errors).
(function () {
  "use strict";
  document.querySelectorAll(".editor").forEach((box) => {
    const text = box.querySelector("textarea");
    const gutter = box.querySelector(".gutter");
    if (!text || !gutter) return;
    const mark = document.createElement("div");
    mark.className = "editor-mark";
    mark.hidden = true;
    mark.setAttribute("aria-hidden", "true");
    box.append(mark);
    let bad = 0;

    function lineHeight() {
      return parseFloat(getComputedStyle(text).lineHeight) || 20;
    }
    function place() {
      if (!bad) {
        mark.hidden = true;
        return;
      }
      const top = parseFloat(getComputedStyle(text).paddingTop) || 0;
      const y = text.offsetTop + top + (bad - 1) * lineHeight() - text.scrollTop;
      // Hidden while the line is scrolled out of the text box.
      mark.hidden = y < text.offsetTop - 1 || y > text.offsetTop + text.clientHeight - lineHeight() / 2;
      mark.style.top = y + "px";
      mark.style.left = text.offsetLeft + "px";
      mark.style.width = text.clientWidth + "px";
      mark.style.height = lineHeight() + "px";
    }
    function render() {
      const n = text.value.split("\n").length;
      const spans = [];
      for (let i = 1; i <= n; i++) {
        const s = document.createElement("span");
        s.textContent = String(i);
        if (i === bad) {
          s.className = "bad";
          s.title = "The error is on this line";
        }
        spans.push(s, document.createTextNode("\n"));
      }
      gutter.replaceChildren(...spans);
      gutter.scrollTop = text.scrollTop;
      box.dataset.errorLine = bad ? String(bad) : "";
      place();
    }

    text.addEventListener("input", () => {
      bad = 0;
      render();
    });
    text.addEventListener("scroll", () => {
      gutter.scrollTop = text.scrollTop;
      place();
    });
    text.addEventListener("wowlab:error-line", (ev) => {
      bad = ev.detail.line;
      // Bring the line into view: about a third from the top.
      text.scrollTop = Math.max(0, (bad - 1) * lineHeight() - text.clientHeight / 3);
      render();
    });
    window.addEventListener("resize", place);
    if (window.ResizeObserver) new ResizeObserver(place).observe(text);
    render();
  });
})();
