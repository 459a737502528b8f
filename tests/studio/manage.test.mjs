// Finding and managing runs in a real browser, on its own `wowlab up --nodes 1` (one
// in-process node owned by the grid itself): nodes online right after start, the grid's own
// node shown as such, live grid totals that follow a running job and drop to 0 after, the
// dashboard's filter, search, re-run, edit and delete, the tokens page (API and claim tokens,
// last use, `wowlab run --sentinel` printing the job's URL), the profile editor marking an
// error's line, a job's profile viewable and downloadable. Each at 1366 px and 390 px.
// Started by run.sh (WOWLAB_BIN, STUDIO_SCREENSHOTS).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { launchChromium, signUp, sleep, startUp, until } from "./support.mjs";

const BIN = process.env.WOWLAB_BIN;
const SHOTS = process.env.STUDIO_SCREENSHOTS;
assert.ok(BIN, "run through tests/studio/run.sh");
const PROFILE = readFileSync(new URL("../../examples/profiles/burst-cooldowns.toml", import.meta.url), "utf8");
// Long enough that a 1-slot node computes it for several seconds (a debug build is slower).
const LONG = Number(process.env.STUDIO_MANAGE_ITERATIONS || 20000);
const WIDTHS = [[1366, 900], [390, 844]];

let up;
let browser;
let base;
let dir;
let page; // the admin (first account)
let other; // a second, ordinary user
const num = (t) => Number(String(t).replace(/[\s,]/g, ""));

async function user(email) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const p = await context.newPage();
  p.errors = [];
  p.on("pageerror", (e) => p.errors.push(e.message));
  await signUp(p, base, email);
  return p;
}

async function noOverflow(p, w) {
  const sw = await p.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(sw <= w, "no sideways scrolling at " + w + " px (" + sw + ")");
}

async function shot(p, name, w) {
  await p.screenshot({ path: path.join(SHOTS, name + (w === 390 ? "-390" : "") + ".png"), fullPage: w !== 390 });
}

async function submit(p, body) {
  const r = await p.request.post(base + "/api/jobs", { data: body, headers: { origin: base } });
  assert.equal(r.status(), 201, await r.text());
  return r.json();
}

async function stat(p, k) {
  return (await p.locator('[data-stat="' + k + '"]').textContent()).trim();
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  ({ up, base, dir } = await startUp(BIN, "wowlab-manage-", 1));
  browser = await launchChromium();
  page = await user("admin@example.org");
  other = await user("other@example.org");
});

after(async () => {
  if (browser) await browser.close();
  if (up) up.kill("SIGTERM");
});

test("nodes online right after start; the grid's own node is listed as such, without owner actions", async () => {
  // The in-process node counts as soon as it heartbeats, not at the next presence round (30 s).
  await until("dashboard counts the in-process node online", async () => {
    await page.goto(base + "/");
    return (await stat(page, "nodes-online")) === "1 / 1";
  }, 15000, 500);
  for (const p of [page, other]) {
    for (const [w, h] of WIDTHS) {
      await p.setViewportSize({ width: w, height: h });
      await p.goto(base + "/nodes");
      assert.equal(await stat(p, "nodes-online"), "1 / 1", "the nodes page shows the dashboard's count");
      const row = p.locator("#grid-nodes tr[data-node]");
      assert.equal(await row.count(), 1, "the grid's own node is on everyone's nodes page");
      assert.match(await row.locator("th").textContent(), /local-0\s+system/);
      assert.match(await p.locator("#node-summary").textContent(), /1 node \(1 online\): 0 yours, 1 run by the grid itself/);
      await noOverflow(p, w);
      if (p === page) await shot(p, "nodes-system", w);
      await row.locator("a").click();
      await p.locator("#system-node").waitFor();
      assert.equal(await p.getByRole("button", { name: /Unlink/ }).count(), 0, "no unlink");
      assert.equal(await p.locator("form.node-settings").count(), 0, "no settings");
      await noOverflow(p, w);
    }
    await p.setViewportSize({ width: 1366, height: 900 });
  }
  // Refused by the server as well, for the admin too.
  const id = await page.locator("#node-facts").getAttribute("data-node");
  const r = await page.request.post(base + "/nodes/" + id + "/unlink", { headers: { origin: base } });
  assert.equal(r.status(), 404);
});

test("live totals: cores in use and sims/s follow a running job and drop to 0 after; the job row updates", async () => {
  await page.goto(base + "/");
  await until("grid totals subscribed", () => page.evaluate(() => window.__gridLive && window.__gridLive.subscribed), 15000);
  assert.equal(await stat(page, "cores-in-use"), "0");
  const job = await submit(page, { profile: PROFILE, iterations: LONG, name: "Live totals" });
  // No reload from here on: beacon publications drive the figures and the list.
  await until("running, 1 core in use, sims/s > 0", async () =>
    (await stat(page, "running")) === "1" && (await stat(page, "cores-in-use")) === "1" && num(await stat(page, "sims")) > 0, 20000);
  await until("the new job listed as running", async () =>
    (await page.locator('tr[data-job="' + job.id + '"] [data-k="status"]').textContent().catch(() => "")).includes("running"), 20000);
  for (const [w, h] of WIDTHS) {
    await page.setViewportSize({ width: w, height: h });
    await noOverflow(page, w);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  await until("the job completes", async () => {
    const r = await page.request.get(base + "/api/jobs/" + job.id);
    return (await r.json()).status === "completed";
  }, 180000, 1000);
  await until("figures back to 0", async () =>
    (await stat(page, "running")) === "0" && (await stat(page, "cores-in-use")) === "0" && (await stat(page, "sims")) === "0", 15000);
  const row = page.locator('tr[data-job="' + job.id + '"]');
  await until("the row shows completed with its DPS", async () =>
    (await row.locator('[data-k="status"]').textContent()).includes("completed") &&
    /\d ± \d/.test(await row.locator('[data-k="dps"]').textContent()), 15000);
  assert.ok(await page.evaluate(() => window.__gridLive.updates) >= 2, "totals arrived over beacon");
  assert.deepEqual(page.errors, []);
});

test("dashboard: name, profile, DPS, filter by status, search by name or profile, re-run, edit, delete", async () => {
  const quick = await submit(page, { profile: PROFILE, iterations: 2000, name: "Quick trinkets" });
  await until("quick job done", async () => (await (await page.request.get(base + "/api/jobs/" + quick.id)).json()).status === "completed", 120000, 500);
  const running = await submit(page, { profile: PROFILE, iterations: LONG * 5, name: "Long talents" });
  // Its first chunks are in: the totals show it working.
  await until("sims/s > 0", async () => {
    await page.goto(base + "/");
    return num(await stat(page, "sims")) > 0;
  }, 30000, 1000);
  for (const [w, h] of WIDTHS) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(base + "/");
    const row = page.locator('tr[data-job="' + quick.id + '"]');
    assert.equal((await row.locator('[data-k="name"]').textContent()).trim(), "Quick trinkets");
    assert.equal((await row.locator('[data-k="profile"]').textContent()).trim(), "Burst cooldowns (melee, rage)");
    assert.match(await row.locator('[data-k="dps"]').textContent(), /^[\d,]+\.\d ± [\d,]+\.\d$/);
    await noOverflow(page, w);
    await shot(page, "dashboard", w);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  // Filter and search (a GET form: the URL says what is shown).
  await page.selectOption("#filter-status", "completed");
  await Promise.all([page.waitForURL(/status=completed/), page.getByRole("button", { name: "Filter" }).click()]);
  assert.equal(await page.locator('tr[data-job="' + running.id + '"]').count(), 0);
  assert.equal(await page.locator('tr[data-job="' + quick.id + '"]').count(), 1);
  await page.selectOption("#filter-status", "");
  await page.fill("#filter-q", "TALENTS");
  await Promise.all([page.waitForURL(/q=TALENTS/), page.getByRole("button", { name: "Filter" }).click()]);
  assert.equal(await page.locator("#jobs tbody tr").count(), 1);
  assert.equal(await page.locator('tr[data-job="' + running.id + '"]').count(), 1);
  await page.fill("#filter-q", "burst cooldowns");
  await Promise.all([page.waitForURL(/q=burst/), page.getByRole("button", { name: "Filter" }).click()]);
  assert.ok((await page.locator("#jobs tbody tr").count()) >= 2, "the profile title matches every job of it");
  await page.goto(base + "/");

  // A running job offers no delete, and the server refuses one with a reason.
  assert.equal(await page.locator('button[data-delete="' + running.id + '"]').count(), 0);
  const refused = await page.evaluate(async (id) => {
    try {
      await window.wowlabApi("DELETE", "/api/jobs/" + id);
      return "deleted";
    } catch (e) {
      return e.status + " " + e.message;
    }
  }, running.id);
  assert.match(refused, /^409 .*cancel it before deleting it/);
  await page.request.post(base + "/api/jobs/" + running.id + "/cancel", { headers: { origin: base } });

  // Edit: the new-job form, prefilled from the job.
  await Promise.all([page.waitForURL(/\/jobs\/new\?from=/), page.locator('a[data-edit="' + quick.id + '"]').click()]);
  assert.equal(await page.inputValue("#name"), "Quick trinkets");
  assert.equal(await page.inputValue("#iterations"), "2000");
  assert.equal(await page.inputValue("#profile"), PROFILE);
  await page.locator("#from-job").waitFor();

  // Re-run: the same profile and settings as a new job.
  await page.goto(base + "/");
  await Promise.all([
    page.waitForURL((u) => /\/jobs\/[0-9a-f-]{36}$/.test(u.pathname) && !u.pathname.endsWith(quick.id)),
    page.locator('button[data-rerun="' + quick.id + '"]').click(),
  ]);
  const rerunId = page.url().split("/").pop();
  const rerun = await (await page.request.get(base + "/api/jobs/" + rerunId)).json();
  assert.equal(rerun.name, "Quick trinkets");
  assert.equal(rerun.iterations, 2000);
  assert.equal(await (await page.request.get(base + "/api/jobs/" + rerunId + "/profile")).text(), PROFILE);

  // Delete a finished job from its row (owner only: the other user gets 404 from the server).
  const stranger = await other.request.delete(base + "/api/jobs/" + quick.id, { headers: { origin: base } });
  assert.equal(stranger.status(), 404);
  await page.goto(base + "/");
  // A live refresh of the list fetched before the delete and answered after it (the race a
  // running job's updates make likely) must not bring the row back: hold one refresh's answer.
  let heldRoute;
  let holdAnswer;
  const held = new Promise((resolve) => (holdAnswer = resolve));
  await page.route(base + "/", async (route) => {
    if (route.request().resourceType() !== "fetch" || heldRoute) return route.continue();
    heldRoute = route;
    holdAnswer(await route.fetch());
  });
  // The page ignores the trigger while a refresh of its own is in flight: ask until one is held.
  await until("a list refresh held", async () => {
    if (heldRoute) return true;
    await page.evaluate(() => document.dispatchEvent(new CustomEvent("wowlab:grid", { detail: { type: "resubscribed" } })));
    return false;
  }, 15000, 200);
  const stale = await held;
  page.once("dialog", (d) => d.accept());
  await page.locator('button[data-delete="' + quick.id + '"]').click();
  await until("row gone", async () => (await page.locator('tr[data-job="' + quick.id + '"]').count()) === 0, 10000);
  assert.match(await stale.text(), new RegExp('data-job="' + quick.id + '"'), "the held list predates the delete");
  await heldRoute.fulfill({ response: stale });
  await page.unroute(base + "/");
  // Watch closely for a while: a later fresh refresh would hide a reappearance again.
  for (let i = 0; i < 50; i++) {
    assert.equal(await page.locator('tr[data-job="' + quick.id + '"]').count(), 0, "a stale refresh brought the deleted row back");
    await sleep(20);
  }
  assert.equal((await page.request.get(base + "/api/jobs/" + quick.id)).status(), 404);
  assert.deepEqual(page.errors, []);
});

test("a job's profile can be viewed and downloaded by its owner and through its public link", async () => {
  const job = await submit(page, { profile: PROFILE, iterations: 1000, name: "Shared", public: true });
  await page.goto(base + "/jobs/" + job.id);
  const view = page.getByRole("link", { name: "View profile" });
  assert.equal(await view.getAttribute("href"), "/api/jobs/" + job.id + "/profile");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download profile" }).click()]);
  assert.equal(readFileSync(await download.path(), "utf8"), PROFILE);
  // The other user, through the public link.
  await other.goto(base + "/jobs/" + job.id);
  await other.getByRole("link", { name: "View profile" }).click();
  await other.waitForURL(base + "/api/jobs/" + job.id + "/profile");
  assert.equal((await other.locator("body").textContent()).trim(), PROFILE.trim());
});

test("tokens page: API and claim tokens created with a name, shown once, listed with last use, revoked", async () => {
  for (const [w, h] of WIDTHS) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(base + "/tokens");
    await page.fill("#token-name", "laptop " + w);
    await page.getByRole("button", { name: "Create token" }).click();
    await page.locator("#token-created").waitFor();
    const secret = (await page.locator("#token-secret").textContent()).trim();
    assert.match(secret, /^wl_[0-9a-f]{64}$/);
    assert.match(await page.locator("#token-command").textContent(), new RegExp("--sentinel " + base + " --token " + secret));
    const row = page.locator("#api-tokens tbody tr").first();
    assert.equal((await row.locator('[data-k="last-used"]').textContent()).trim(), "never");
    await noOverflow(page, w);
    if (w === 1366) {
      // `wowlab run --sentinel` with it: prints the job id and its studio URL before progress.
      const file = path.join(dir, "p.toml");
      writeFileSync(file, PROFILE);
      const out = await new Promise((resolve, reject) => {
        const p = spawn(BIN, ["run", file, "--iterations", "1000", "--sentinel", base, "--token", secret], { stdio: ["ignore", "pipe", "pipe"] });
        let err = "";
        p.stderr.on("data", (d) => (err += d));
        p.on("exit", (code) => (code === 0 ? resolve(err) : reject(new Error("wowlab run failed: " + err))));
      });
      const m = /job ([0-9a-f-]{36}) submitted: (\S+)/.exec(out);
      assert.ok(m, out);
      assert.equal(m[2], base + "/jobs/" + m[1]);
      await page.reload();
      const used = (await page.locator("#api-tokens tbody tr").first().locator('[data-k="last-used"]').textContent()).trim();
      assert.match(used, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, "its last use is shown");
    }
    // Reloaded, the secret is gone for good.
    await page.reload();
    assert.ok(!(await page.content()).includes(secret), "the secret is shown only once");

    await page.fill("#claim-name", "rack " + w);
    await page.getByRole("button", { name: "Create claim token" }).click();
    await page.locator("#claim-created").waitFor();
    const claim = (await page.locator("#claim-secret").textContent()).trim();
    assert.match(claim, /^ct_[0-9a-f]{64}$/);
    assert.match(await page.locator("#claim-command").textContent(), new RegExp("wowlab node --sentinel " + base + " --claim-token " + claim));
    const crow = page.locator("#claim-tokens tbody tr").first();
    assert.equal((await crow.locator('[data-k="name"]').textContent()).trim(), "rack " + w);
    await noOverflow(page, w);
    await shot(page, "tokens", w);
    // Revoke both.
    page.once("dialog", (d) => d.accept());
    await crow.getByRole("button", { name: "Revoke" }).click();
    await until("claim token revoked", async () => (await crow.locator('[data-k="state"]').textContent()).includes("revoked"), 10000);
    page.once("dialog", (d) => d.accept());
    const arow = page.locator("#api-tokens tbody tr").filter({ hasText: "laptop " + w });
    await arow.getByRole("button", { name: "Revoke" }).click();
    await until("API token gone", async () => (await arow.count()) === 0, 10000);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  assert.deepEqual(page.errors, []);
});

test("profile editor: line numbers, no soft wrap, the error's line highlighted, format reference, examples by title", async () => {
  // An unknown key on line 4: the server's error names line 4, the editor marks it.
  const lines = PROFILE.split("\n");
  lines.splice(3, 0, "bogus_setting = [");
  const bad = lines.join("\n");
  for (const [w, h] of WIDTHS) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(base + "/jobs/new");
    const titles = await page.locator("#example option").allTextContents();
    assert.ok(titles.includes("Burst cooldowns (melee, rage)"), titles.join(", "));
    assert.ok(!titles.some((t) => t.endsWith(".toml")), "examples by title, not file name");
    assert.equal(await page.getByRole("link", { name: "Profile format reference" }).getAttribute("href"), "/static/profile-format.md");
    assert.equal(await page.locator("#profile").getAttribute("wrap"), "off");
    await page.fill("#profile", bad);
    assert.equal(await page.locator("#profile-gutter span").count(), lines.length, "one number per line");
    await page.getByRole("button", { name: "Run simulation" }).click();
    const msg = await page.locator("#profile-error").filter({ hasText: /line \d+/ }).textContent({ timeout: 15000 });
    const line = Number(/line (\d+)/.exec(msg)[1]);
    assert.ok(line >= 4, msg);
    const marked = page.locator("#profile-gutter span.bad");
    assert.equal((await marked.textContent()).trim(), String(line), "the gutter marks the error's line");
    const band = page.locator(".editor-mark");
    assert.ok(await band.isVisible(), "the line is highlighted across the text");
    // The band sits on that line of the textarea.
    const [bandBox, areaBox, lh, scroll] = [
      await band.boundingBox(),
      await page.locator("#profile").boundingBox(),
      await page.locator("#profile").evaluate((e) => parseFloat(getComputedStyle(e).lineHeight)),
      await page.locator("#profile").evaluate((e) => e.scrollTop),
    ];
    const pad = await page.locator("#profile").evaluate((e) => parseFloat(getComputedStyle(e).paddingTop));
    const want = areaBox.y + pad + (line - 1) * lh - scroll;
    assert.ok(Math.abs(bandBox.y - want) <= 2, "band at y " + bandBox.y + ", line at " + want);
    await noOverflow(page, w);
    await shot(page, "editor-error", w);
    // Editing clears the mark.
    await page.locator("#profile").press("End");
    await page.keyboard.type(" ");
    assert.equal(await page.locator("#profile-gutter span.bad").count(), 0);
    assert.ok(!(await band.isVisible()));
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  const ref = await page.request.get(base + "/static/profile-format.md");
  assert.equal(ref.status(), 200);
});
