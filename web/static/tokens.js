// Tokens page: show a new API or claim token's secret once (with the command line that uses it
// and a copy button) and add its row; revoke a token.
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
      row.append(th, id, cell("td", fmtTime(Date.now())), cell("td", fmtTime(t.expiresAt), "expires"),
        cell("td", "never", "last-used"), td);
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

// Tokens page: claim tokens (create with a name, shown once with the `wowlab node` line; revoke).
(function () {
  "use strict";
  const api = window.wowlabApi;
  const $ = (id) => document.getElementById(id);
  const form = $("new-claim");
  const fmtTime = (ms) => (ms == null ? "never" : new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC");

  function bindRevoke(b) {
    b.addEventListener("click", async () => {
      const row = b.closest("tr");
      const name = row.querySelector('[data-k="name"]').textContent;
      if (!confirm("Revoke the claim token “" + name + "”? Nodes already attached stay attached.")) return;
      b.disabled = true;
      $("claim-revoke-error").textContent = "";
      try {
        await api("DELETE", "/api/claim-tokens/" + encodeURIComponent(b.dataset.revokeClaim));
        const pill = row.querySelector('[data-k="state"] .pill');
        pill.className = "pill pill-revoked";
        pill.textContent = "revoked";
        b.remove();
      } catch (e) {
        $("claim-revoke-error").textContent = e.message || "Could not revoke the claim token.";
        b.disabled = false;
      }
    });
  }
  document.querySelectorAll("button[data-revoke-claim]").forEach(bindRevoke);

  if (!form) return;
  form.addEventListener("wowlab:done", (ev) => {
    const t = ev.detail;
    const name = $("claim-name").value.trim();
    $("claim-secret").textContent = t.token;
    const cmd = $("claim-command");
    cmd.textContent = "wowlab node --sentinel " + cmd.dataset.sentinel + " --claim-token " + t.token;
    $("claim-created").hidden = false;
    $("claim-copy").textContent = "Copy command";
    const row = document.createElement("tr");
    row.dataset.claimToken = t.id;
    const add = (tag, text, k) => {
      const c = document.createElement(tag);
      c.textContent = text;
      if (k) c.dataset.k = k;
      row.append(c);
      return c;
    };
    add("th", name || "(unnamed)", "name").scope = "row";
    const code = document.createElement("code");
    code.textContent = t.id.slice(0, 12) + "\u2026";
    add("td", "").append(code);
    add("td", fmtTime(Date.now()));
    add("td", fmtTime(t.expiresAt));
    add("td", "never", "last-used");
    const pill = document.createElement("span");
    pill.className = "pill pill-active";
    pill.textContent = "active";
    add("td", "", "state").append(pill);
    const b = document.createElement("button");
    b.type = "button";
    b.className = "secondary";
    b.dataset.revokeClaim = t.id;
    b.textContent = "Revoke";
    bindRevoke(b);
    add("td", "").append(b);
    $("claim-tokens").tBodies[0].prepend(row);
    $("claim-tokens").closest(".table-wrap").hidden = false;
    $("no-claim-tokens").hidden = true;
    form.reset();
  });
  $("claim-copy").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("claim-command").textContent);
      $("claim-copy").textContent = "Copied";
    } catch (e) {
      $("claim-copy").textContent = "Select the command above to copy it";
    }
  });
})();
