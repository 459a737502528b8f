// Dashboard: per-job actions (re-run, delete) and a live job list. The list re-renders from the
// server (the same page, fetched again) whenever the grid's running-job count changes on
// `nodes:all`, so statuses, DPS and durations follow the jobs without a reload.
(function () {
  "use strict";
  const api = window.wowlabApi;
  const err = () => document.getElementById("jobs-error");
  // Jobs deleted from this page: a list fetched before the delete landed must not bring them back.
  const deleted = new Set();

  function say(msg) {
    const e = err();
    if (e) e.textContent = msg;
  }

  async function rerun(b) {
    const row = b.closest("tr");
    const id = b.dataset.rerun;
    b.disabled = true;
    say("");
    try {
      const res = await fetch("/api/jobs/" + encodeURIComponent(id) + "/profile", { credentials: "same-origin" });
      if (!res.ok) throw { message: "The job's profile could not be read (" + res.status + ")." };
      const profile = await res.text();
      const name = row.querySelector('[data-k="name"]').textContent.trim();
      const body = {
        profile,
        iterations: Number(row.dataset.iterations),
        chunkSize: Number(row.dataset.chunkSize),
        name,
        public: row.dataset.public === "true",
      };
      const job = await api("POST", "/api/jobs", body);
      location.href = "/jobs/" + job.id;
    } catch (e) {
      say(e.message || "Could not re-run the job.");
      b.disabled = false;
    }
  }

  async function remove(b) {
    const row = b.closest("tr");
    const name = row.querySelector('[data-k="name"]').textContent.trim();
    if (!confirm("Delete “" + name + "” and its results? This cannot be undone.")) return;
    b.disabled = true;
    say("");
    try {
      await api("DELETE", "/api/jobs/" + encodeURIComponent(b.dataset.delete));
      deleted.add(b.dataset.delete);
      row.remove();
    } catch (e) {
      say(e.message || "Could not delete the job.");
      b.disabled = false;
    }
  }

  document.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-rerun], button[data-delete]");
    if (!b) return;
    if (b.dataset.rerun) rerun(b);
    else remove(b);
  });

  // Live list: fetch this page again and swap the job list in (keeps the filter in the URL).
  // The count the page was rendered with: the first publication already differs if a job
  // started or ended meanwhile.
  const shown = document.querySelector('[data-stat="running"]');
  let running = shown ? Number(shown.textContent) : null;
  let busy = false;
  async function refreshList() {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch(location.href, { credentials: "same-origin" });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      for (const tr of doc.querySelectorAll("tr[data-job]")) if (deleted.has(tr.dataset.job)) tr.remove();
      // Only the list: the filter form keeps what the user is choosing or typing.
      const fresh = doc.getElementById("jobs-list");
      const mine = document.getElementById("jobs-list");
      if (fresh && mine) {
        mine.replaceWith(fresh);
        return;
      }
      // The first job of an empty dashboard: the whole section (it has no form yet).
      const freshAll = doc.getElementById("my-jobs");
      const mineAll = document.getElementById("my-jobs");
      if (freshAll && mineAll && !mineAll.contains(document.activeElement)) mineAll.replaceWith(freshAll);
    } catch (e) {
      // The next change retries.
    } finally {
      busy = false;
    }
  }
  // Refresh when the grid's running-job count changes, and while my list shows active jobs
  // (their status, DPS and duration change as they run and end).
  const active = () => document.querySelector('#jobs tr[data-status="running"], #jobs tr[data-status="pending"]');
  document.addEventListener("wowlab:grid", (ev) => {
    const d = ev.detail || {};
    if (d.type === "resubscribed") return refreshList();
    if (d.type !== "totals") return;
    const changed = running !== null && d.runningJobs !== running;
    running = d.runningJobs;
    if (changed || active()) refreshList();
  });
})();
