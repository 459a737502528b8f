// New simulation: example picker and file upload fill the profile editor; the editor keeps a
// line-number gutter in step with the text (no soft wrap, so numbers match the lines the
// server's errors name) and marks the line an error names.
(function () {
  "use strict";
  const select = document.getElementById("example");
  const profile = document.getElementById("profile");
  const upload = document.getElementById("upload");
  const gutter = document.getElementById("profile-gutter");
  let badLine = 0;

  function renderGutter() {
    if (!gutter || !profile) return;
    const n = profile.value.split("\n").length;
    const spans = [];
    for (let i = 1; i <= n; i++) {
      const s = document.createElement("span");
      s.textContent = String(i);
      if (i === badLine) s.className = "bad";
      spans.push(s, document.createTextNode("\n"));
    }
    gutter.replaceChildren(...spans);
    gutter.scrollTop = profile.scrollTop;
  }

  function setText(text) {
    profile.value = text;
    badLine = 0;
    renderGutter();
  }

  if (profile && gutter) {
    profile.addEventListener("input", () => { badLine = 0; renderGutter(); });
    profile.addEventListener("scroll", () => { gutter.scrollTop = profile.scrollTop; });
    profile.addEventListener("wowlab:error-line", (ev) => {
      badLine = ev.detail.line;
      renderGutter();
      // Bring the line into view: about a third from the top.
      const lh = parseFloat(getComputedStyle(profile).lineHeight) || 20;
      profile.scrollTop = Math.max(0, (badLine - 1) * lh - profile.clientHeight / 3);
      gutter.scrollTop = profile.scrollTop;
    });
    renderGutter();
  }
  if (select && profile) {
    select.addEventListener("change", () => {
      const t = document.querySelector('template[data-profile="' + select.value + '"]');
      if (t) setText(t.content ? t.content.textContent : t.textContent);
    });
  }
  if (upload && profile) {
    upload.addEventListener("change", async () => {
      const f = upload.files && upload.files[0];
      if (!f) return;
      if (f.size > 1024 * 1024) {
        window.wowlabShowError(profile.form, profile, "That file is larger than 1 MiB.");
        return;
      }
      setText(await f.text());
    });
  }
})();
