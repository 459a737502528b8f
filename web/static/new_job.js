// New simulation: example picker and file upload fill the profile editor (editor.js draws its
// line numbers and marks the line an error names).
(function () {
  "use strict";
  const select = document.getElementById("example");
  const profile = document.getElementById("profile");
  const upload = document.getElementById("upload");

  // The editor (editor.js) follows the text through `input` events.
  function setText(text) {
    profile.value = text;
    profile.dispatchEvent(new Event("input"));
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
