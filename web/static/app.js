// Studio forms: every <form data-api> is sent as JSON to the user API; errors come back as
// {"error":{"code","message","field"?}} and are shown next to the field they concern.
(function () {
  "use strict";

  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    const text = await res.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        data = { error: { code: "bad_response", message: text.slice(0, 200) } };
      }
    }
    if (!res.ok) {
      const err = (data && data.error) || { code: "http_" + res.status, message: res.statusText };
      err.status = res.status;
      throw err;
    }
    return data;
  }
  window.wowlabApi = api;

  // The studio's one number format (the server's `numbers::grouped`): comma thousands groups.
  function fmtNumber(x, decimals) {
    if (x === undefined || x === null || !isFinite(x)) return "\u2014";
    const d = decimals === undefined ? 1 : decimals;
    return Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  window.wowlabFmt = fmtNumber;

  function fieldFor(form, err) {
    const inputs = Array.from(form.querySelectorAll("[name]"));
    if (err.field) {
      const f = inputs.find((i) => i.name === err.field);
      if (f) return f;
    }
    // Messages name the field they are about ("iterations must be…", "invalid profile: …").
    // A message naming several fields ("wrong email or password") belongs to the whole form.
    const msg = (err.message || "").toLowerCase();
    const named = inputs.filter((i) => msg.includes(i.name.toLowerCase()));
    return named.length === 1 ? named[0] : null;
  }

  function errorSlot(form, input) {
    if (!input) return form.querySelector(".form-error");
    return (
      form.querySelector('[data-field="' + input.name + '"]') ||
      document.getElementById(input.id + "-error") ||
      form.querySelector(".form-error")
    );
  }

  function clearErrors(form) {
    form.querySelectorAll(".error").forEach((e) => (e.textContent = ""));
    form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  }

  function showError(form, input, message) {
    const slot = errorSlot(form, input);
    if (slot) slot.textContent = message;
    if (input) {
      input.setAttribute("aria-invalid", "true");
      if (slot && slot.id) input.setAttribute("aria-describedby", slot.id);
      input.focus();
      // Profile errors name "line L, column C": put the caret there.
      const at = /line (\d+), column (\d+)/.exec(message);
      if (at && input.tagName === "TEXTAREA") {
        const lines = input.value.split("\n");
        const line = Math.min(Number(at[1]), lines.length) - 1;
        let pos = 0;
        for (let i = 0; i < line; i++) pos += lines[i].length + 1;
        pos += Math.min(Number(at[2]) - 1, (lines[line] || "").length);
        input.setSelectionRange(pos, pos);
        // The profile editor marks the line.
        input.dispatchEvent(new CustomEvent("wowlab:error-line", { detail: { line: line + 1 } }));
      }
    }
  }
  window.wowlabShowError = showError;

  // Client-side checks mirror the server's; the server stays the authority.
  function localCheck(form) {
    for (const i of form.querySelectorAll("[name]")) {
      if (i.type === "checkbox") continue;
      const v = i.value.trim();
      if (i.required && !v) return [i, "This field is required."];
      if (i.type === "number" && v) {
        if (!/^\d+$/.test(v)) return [i, "Enter a whole number."];
        // BigInt: limits such as a seed's 2^64 - 1 are beyond exact Number precision.
        const n = BigInt(v);
        if (i.min !== "" && n < BigInt(i.min)) return [i, "Must be at least " + i.min + "."];
        if (i.max !== "" && n > BigInt(i.max)) return [i, "Must be at most " + i.max + "."];
      }
      // `data-decimal` text fields take a positive decimal number (e.g. a target error).
      if (i.dataset.decimal !== undefined && v && !(/^\d*\.?\d+$/.test(v) && Number(v) > 0)) {
        return [i, "Enter a number above 0, such as 0.05."];
      }
      if (i.type === "email" && v && !/^[^@\s]+@[^@\s]+$/.test(v)) return [i, "Enter an email address."];
      if (i.minLength > 0 && v.length < i.minLength) return [i, "Must be at least " + i.minLength + " characters."];
    }
    return null;
  }

  function collect(form) {
    const body = {};
    for (const i of form.querySelectorAll("[name]")) {
      if (i.type === "checkbox") body[i.name] = i.checked;
      else if (i.dataset.decimal !== undefined) {
        const v = i.value.trim();
        if (v !== "") body[i.name] = Number(v);
      } else if (i.type === "number") {
        const v = i.value.trim();
        // Integers above 2^53 would be rounded by Number(): send those as text (the API takes
        // decimal text where such values make sense, e.g. seeds, and names the field otherwise).
        if (v !== "") body[i.name] = Number.isSafeInteger(Number(v)) ? Number(v) : v;
      } else body[i.name] = i.value;
    }
    return body;
  }

  function redirect(form, data) {
    const how = form.dataset.redirect;
    if (how === "next") {
      // The server put a checked same-site path in data-next; check again before following.
      const next = form.dataset.next || "/";
      const local = next.startsWith("/") && !next.startsWith("//") && !/[\\\s\u0000-\u001f]/.test(next);
      location.href = local ? next : "/";
    } else if (how === "job" && data && data.id) {
      location.href = "/jobs/" + data.id;
    } else if (how === "reload") {
      location.reload();
    }
  }

  document.addEventListener("submit", async (ev) => {
    const form = ev.target;
    if (!form.dataset || !form.dataset.api) return;
    ev.preventDefault();
    clearErrors(form);
    const bad = localCheck(form);
    if (bad) return showError(form, bad[0], bad[1]);
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      const data = await api(form.dataset.method || "POST", form.dataset.api, collect(form));
      // Pages that show what came back (a new token) listen for this.
      form.dispatchEvent(new CustomEvent("wowlab:done", { detail: data }));
      redirect(form, data);
    } catch (err) {
      showError(form, fieldFor(form, err), err.message || "Request failed.");
    } finally {
      if (button) button.disabled = false;
    }
  });

  const signout = document.getElementById("signout");
  if (signout) {
    signout.addEventListener("click", async () => {
      try {
        await api("POST", "/api/auth/logout");
      } finally {
        location.href = "/signin";
      }
    });
  }
})();
