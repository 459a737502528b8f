// New simulation: example picker and file upload fill the profile editor.
(function () {
  "use strict";
  const select = document.getElementById("example");
  const profile = document.getElementById("profile");
  const upload = document.getElementById("upload");
  if (select && profile) {
    select.addEventListener("change", () => {
      const t = document.querySelector('template[data-profile="' + select.value + '"]');
      if (t) profile.value = t.content ? t.content.textContent : t.textContent;
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
      profile.value = await f.text();
    });
  }
})();
