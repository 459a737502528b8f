// API tokens page: show a new token's secret once (with the `wowlab run` line and a copy
// button) and add its row; revoke a token.
(function () {
  "use strict";
  const api = window.wowlabApi;
  const $ = (id) => document.getElementById(id);
  const form = $("new-token");
  const fmtTime = (ms) => (ms == null ? "never" : new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC");

  function cell(tag, text, k) {
    const c = document.createElement(tag);
    c.textContent = text;
    if (k) c.dataset.k = k;
    return c;
  }

  function revokeButton(id) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.dataset.revokeToken = id;
    b.textContent = "Revoke";
    bindRevoke(b);
    return b;
  }

  function bindRevoke(b) {
    b.addEventListener("click", async () => {
      const row = b.closest("tr");
      const name = row.querySelector('[data-k="name"]').textContent;
      if (!confirm("Revoke the token “" + name + "”? Commands using it stop working.")) return;
      b.disabled = true;
      $("token-revoke-error").textContent = "";
      try {
        await api("DELETE", "/api/tokens/" + encodeURIComponent(b.dataset.revokeToken));
        row.remove();
        if (!document.querySelector("#api-tokens tbody tr")) {
          $("api-tokens").closest(".table-wrap").hidden = true;
          $("no-api-tokens").hidden = false;
        }
      } catch (e) {
        $("token-revoke-error").textContent = e.message || "Could not revoke the token.";
        b.disabled = false;
      }
    });
  }
  document.querySelectorAll("button[data-revoke-token]").forEach(bindRevoke);

  if (form) {
    form.addEventListener("wowlab:done", (ev) => {
      const t = ev.detail;
      const name = $("token-name").value.trim();
      $("token-secret").textContent = t.token;
      const cmd = $("token-command");
      cmd.textContent = "wowlab run profile.toml --sentinel " + cmd.dataset.sentinel + " --token " + t.token;
      $("token-created").hidden = false;
      $("token-copy").textContent = "Copy token";
      const row = document.createElement("tr");
      row.dataset.apiToken = t.id;
      const td = document.createElement("td");
      td.append(revokeButton(t.id));
      const id = document.createElement("td");
      const code = document.createElement("code");
      code.textContent = t.id.slice(0, 12) + "…";
      id.append(code);
      const th = cell("th", name, "name");
      th.scope = "row";
      row.append(th, id, cell("td", fmtTime(Date.now())), cell("td", fmtTime(t.expiresAt), "expires"), td);
      $("api-tokens").tBodies[0].prepend(row);
      $("api-tokens").closest(".table-wrap").hidden = false;
      $("no-api-tokens").hidden = true;
      form.reset();
    });
    $("token-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText($("token-secret").textContent);
        $("token-copy").textContent = "Copied";
      } catch (e) {
        $("token-copy").textContent = "Select the token above to copy it";
      }
    });
  }
})();
