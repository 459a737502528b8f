// Studio end to end in a real browser: sign up, claim a node started by the test, submit a job,
// live progress, reconnect recovery, final report equals the API result, a busy node's cores in
// use and sims/s, privacy between users, every form's bad values shown next to their field,
// 360 px layout. Started by run.sh (which provides STUDIO_URL etc.).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium, signUp, until } from "./support.mjs";

const BASE = process.env.STUDIO_URL;
const BIN = process.env.WOWLAB_BIN;
const SHOTS = process.env.STUDIO_SCREENSHOTS;
const ITERATIONS = Number(process.env.STUDIO_ITERATIONS || 60000);
const PROFILE = readFileSync(new URL("../../examples/profiles/burst-cooldowns.toml", import.meta.url), "utf8");
assert.ok(BASE && BIN, "run through tests/studio/run.sh");

let browser;
let node; // the `wowlab node` child process
const ctx = {}; // shared facts between the ordered tests

async function fieldError(page, sel, re, input) {
  await page.locator(sel).filter({ hasText: re }).waitFor({ timeout: 10000 });
  if (input) assert.equal(await input.getAttribute("aria-invalid"), "true", sel + " marks its input");
}

/** A stat or table cell's number without its comma digit groups. */
const num = (t) => Number(String(t).replace(/[\s,]/g, ""));
/** The studio's number format: comma thousands groups, `d` decimals (as numbers.rs). */
const fmt = (x, d = 1) => Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });

/** A finished job's page opens on its answer: at 1366 px and at 390 px the mean DPS is on
 * the first screen, above the report, with no empty live boxes. Returns the shown mean. */
async function answerFirst(page, url, shot) {
  const shown = {};
  for (const [w, h] of [[1366, 768], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(url);
    const mean = page.locator("#answer-mean");
    await mean.waitFor();
    const box = await mean.boundingBox();
    assert.ok(box && box.y + box.height <= h, "the DPS is on the first screen at " + w + " px");
    const reportTop = await page.locator("#report").evaluate((e) => e.getBoundingClientRect().top);
    assert.ok(box.y < reportTop, "the answer is above the report");
    for (const sel of ["#rate", "#mean", "#ci", "#chart"]) {
      assert.equal(await page.locator(sel).count(), 0, sel + " is not shown for a finished job");
    }
    assert.ok(!(await page.content()).includes("needs JavaScript"));
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= w, "no overflow at " + w);
    shown[w] = (await mean.textContent()).trim();
    if (shot) await page.screenshot({ path: path.join(SHOTS, shot + (w === 390 ? "-390" : "") + ".png"), fullPage: w !== 390 });
  }
  await page.setViewportSize({ width: 1200, height: 900 });
  assert.equal(shown[1366], shown[390]);
  return shown[1366];
}

async function newUser(email) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await signUp(page, BASE, email);
  return { context, page };
}

before(async () => {
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
});

// The nodes' data dirs, removed at the end so runs leave nothing in the temp dir.
const nodeDirs = [];

after(async () => {
  if (node) node.kill("SIGTERM");
  if (browser) await browser.close();
  for (const dir of nodeDirs) rmSync(dir, { recursive: true, force: true });
});

test("sign up shows field errors, then lands on the dashboard", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(BASE + "/signup");
  await page.getByLabel("Email").fill("someone@example.org");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Sign up" }).click();
  await fieldError(page, "#password-error", /8/, page.getByLabel("Password"));
  // Checked in the page: empty and malformed email.
  await page.getByLabel("Email").fill("");
  await page.getByLabel("Password").fill("long enough pass");
  await page.getByRole("button", { name: "Sign up" }).click();
  await fieldError(page, "#email-error", /required/, page.getByLabel("Email"));
  assert.equal(await page.locator("#password-error").textContent(), "", "earlier errors are cleared");
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByRole("button", { name: "Sign up" }).click();
  await fieldError(page, "#email-error", /email address/, page.getByLabel("Email"));
  // Refused by the server, shown next to the field its error names.
  await page.getByLabel("Email").fill("someone@grid.invalid");
  await page.getByRole("button", { name: "Sign up" }).click();
  await fieldError(page, "#email-error", /reserved/, page.getByLabel("Email"));
  assert.equal(page.url(), BASE + "/signup", "no sign-up happened");

  const u = await newUser("alice@example.org");
  ctx.alice = u;
  assert.match(await u.page.locator("h1").textContent(), /Dashboard/);
  assert.ok(await u.page.locator('section[aria-label="Grid totals"]').isVisible());

  // The same email again: the API's 409 lands under the email field.
  await page.goto(BASE + "/signup");
  await page.getByLabel("Email").fill("ALICE@example.org");
  await page.getByLabel("Password").fill("another password");
  await page.getByRole("button", { name: "Sign up" }).click();
  await fieldError(page, "#email-error", /already registered/, page.getByLabel("Email"));
  await context.close();
});

test("claim a node started with the claim token", async () => {
  const { page } = ctx.alice;
  await page.goto(BASE + "/nodes");
  await page.getByRole("button", { name: "Generate claim token" }).click();
  const token = await until("claim token", () =>
    page.evaluate(() => document.getElementById("node-command").dataset.token)
  );
  assert.match(token, /^ct_[0-9a-f]{64}$/);
  // Hidden until revealed.
  assert.ok(!(await page.locator("#claim-token-text").textContent()).includes(token));
  await page.getByRole("button", { name: "Reveal" }).click();
  assert.equal(await page.locator("#claim-token-text").textContent(), token);

  const dataDir = mkdtempSync(path.join(tmpdir(), "studio-node-"));
  nodeDirs.push(dataDir);
  node = spawn(BIN, ["node", "--sentinel", BASE, "--claim-token", token, "--data-dir", dataDir,
    "--max-parallel", "1", "--name", "browser-test-node"], {
    stdio: ["ignore", "inherit", "inherit"],
    // Heartbeat every second so the nodes page's figures follow the work closely.
    env: { ...process.env, WOWLAB_NODE_HEARTBEAT_MS: "1000" },
  });
  await until("node online on the nodes page", async () => {
    await page.reload();
    const row = page.locator("#my-nodes tbody tr", { hasText: "browser-test-node" });
    return (await row.count()) === 1 && /online/.test(await row.textContent());
  }, 60000, 1000);
  const row = page.locator("#my-nodes tbody tr", { hasText: "browser-test-node" });
  assert.match(await row.locator('[data-k="version"]').textContent(), /\d+\.\d+/);
  assert.notEqual((await row.locator('[data-k="last-seen"]').textContent()).trim(), "never");
  ctx.nodeCores = Number((await row.locator('[data-k="cores-in-use"]').textContent()).split("/")[1]);
  assert.ok(ctx.nodeCores >= 1, "cores reported");
  // Started with --max-parallel 1: its capacity is 1 whatever its cores (the owner's default
  // is one per core, the node's own cap is lower).
  assert.equal((await row.locator('[data-k="capacity"]').textContent()).trim(), "1");
});

test("a bad profile shows its error inline with line and column", async () => {
  const { page } = ctx.alice;
  await page.goto(BASE + "/jobs/new");
  await page.getByLabel("Profile (TOML)").fill("[player\nname = 3\n");
  await page.getByLabel("Iterations").fill("1000");
  await page.getByRole("button", { name: "Run simulation" }).click();
  const err = page.locator("#profile-error");
  await err.filter({ hasText: /line \d+, column \d+/ }).waitFor();
  assert.equal(await page.getByLabel("Profile (TOML)").getAttribute("aria-invalid"), "true");
  // Bad iterations are caught next to their field too.
  await page.getByLabel("Iterations").fill("0");
  await page.getByRole("button", { name: "Run simulation" }).click();
  await page.locator("#iterations-error").filter({ hasText: /at least 1/ }).waitFor();
});

test("new simulation: every bad value is shown next to its field", async () => {
  const { page } = ctx.alice;
  await page.goto(BASE + "/jobs/new");
  const submit = () => page.getByRole("button", { name: "Run simulation" }).click();
  const iterations = page.getByLabel("Iterations");
  const seed = page.getByLabel("Seed (optional)");
  const chunk = page.getByLabel("Chunk size (optional)");

  await page.getByLabel("Profile (TOML)").fill("");
  await submit();
  await fieldError(page, "#profile-error", /required/, page.getByLabel("Profile (TOML)"));
  await page.getByLabel("Example profile").selectOption({ index: 0 });

  await iterations.fill("1.5");
  await submit();
  await fieldError(page, "#iterations-error", /whole number/, iterations);
  await iterations.fill("1099511627777");
  await submit();
  await fieldError(page, "#iterations-error", /at most 1099511627776/, iterations);
  await iterations.fill("1000");

  await seed.fill("-3");
  await submit();
  await fieldError(page, "#seed-error", /whole number/, seed);
  await seed.fill("18446744073709551616");
  await submit();
  await fieldError(page, "#seed-error", /at most 18446744073709551615/, seed);
  await seed.fill("");

  // Only the server knows how many chunks a size gives (at most 100 000).
  await iterations.fill("1000000");
  await chunk.fill("5");
  await submit();
  await fieldError(page, "#chunk-size-error", /200000 chunks; at most 100000 are allowed, so use at least 10/, chunk);
  await iterations.fill("1000");
  await chunk.fill("0");
  await submit();
  await fieldError(page, "#chunk-size-error", /at least 1/, chunk);
  assert.match(page.url(), /\/jobs\/new$/, "nothing was submitted");

  // A seed beyond 2^53 reaches the API exactly (sent as text, not a rounded number).
  await chunk.fill("250");
  await seed.fill("18446744073709551615");
  await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/), submit()]);
  const id = page.url().split("/").pop();
  const raw = await (await page.request.get(BASE + "/api/jobs/" + id)).text();
  assert.match(raw, /"seed":18446744073709551615[,}]/);
  assert.match(raw, /"chunkSize":250[,}]/);
  await page.locator("#status .pill-completed").waitFor({ timeout: 300000 });

  // The API itself: 4xx JSON in the stable shape, naming the field, never a 500.
  const bad = await page.request.post(BASE + "/api/jobs", {
    headers: { "content-type": "application/json" }, data: '{"profile": "x", "iterations": "lots"}',
  });
  assert.equal(bad.status(), 400);
  const err = (await bad.json()).error;
  assert.equal(err.code, "bad_request");
  assert.equal(err.field, "iterations");
  const notJson = await page.request.post(BASE + "/api/jobs", {
    headers: { "content-type": "application/json" }, data: "{not json",
  });
  assert.equal(notJson.status(), 400);
  assert.equal((await notJson.json()).error.code, "bad_request");
  // (One segment under /api/ is beacon's server API in an all-in-one grid, hence two.)
  const nowhere = await page.request.get(BASE + "/api/no/such-endpoint");
  assert.equal(nowhere.status(), 404);
  assert.equal((await nowhere.json()).error.code, "not_found");
});

test("submit a job, watch it live, recover after a socket drop, report equals the API", async () => {
  const { page } = ctx.alice;
  await page.goto(BASE + "/jobs/new");
  await page.getByLabel("Example profile").selectOption({ index: 0 });
  await page.getByLabel("Iterations").fill(String(ITERATIONS));
  await page.getByLabel("Seed (optional)").fill("42");
  await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/), page.getByRole("button", { name: "Run simulation" }).click()]);
  ctx.jobUrl = page.url();
  ctx.jobId = ctx.jobUrl.split("/").pop();

  const progress = () => page.evaluate(() => Number(document.getElementById("progress").value));
  const live = () => page.evaluate(() => {
    const s = window.__studio;
    return { connection: s.connection, messages: s.messages, chunks: s.chunksDone, status: s.status };
  });
  const first = await until("first live progress", async () => {
    const p = await progress();
    return p > 0 && p < 100 ? p : false;
  }, 120000, 100).catch(async (e) => {
    throw new Error(e.message + "; page state " + JSON.stringify(await live()));
  });
  await until("progress to advance live", async () => (await progress()) > first, 60000, 100);
  // A few chart points in, while still running: the screenshot of a live job.
  const points = () => page.evaluate(() => window.__studio.points.length);
  if (await until("three chart points", async () => (await points()) >= 3 || (await progress()) >= 100, 60000, 100)
      && (await progress()) < 100) {
    await page.screenshot({ path: path.join(SHOTS, "job-running.png"), fullPage: true });
  }

  // Drop the socket and hold the reconnect for 1.5 s so publications are missed.
  const before = await page.evaluate(() => {
    const s = window.__studio;
    s.recoveries = [];
    const sub = s.sub;
    const orig = sub.onState;
    sub.onState = (st, info) => { if (st === "subscribed") s.recoveries.push(info); orig(st, info); };
    s.client._backoff = () => 1500;
    const at = { offset: sub.offset, messages: s.messages };
    s.client.ws.close();
    return at;
  });
  const rec = await until("resubscribe with recovery", () =>
    page.evaluate(() => (window.__studio.recoveries.length ? window.__studio.recoveries[0] : false)), 30000, 100);
  assert.equal(rec.recovered, true, "stream recovered after reconnect");
  const afterRec = await page.evaluate(() => ({ offset: window.__studio.sub.offset, messages: window.__studio.messages }));
  if (rec.count > 0) {
    assert.ok(afterRec.offset > before.offset && afterRec.messages > before.messages, "missed publications delivered");
  }

  await page.locator("#status .pill-completed").waitFor({ timeout: 300000 });
  assert.equal(await progress(), 100);
  const chartPoints = await page.evaluate(() => window.__studio.points.length);
  assert.ok(chartPoints >= 2, "chart has running-mean points");
  // The report published live on jobs:{id} (merged in the projector's memory) and the one
  // decoded from the stored result must both match what the page shows.
  const liveReport = await page.evaluate(() => window.__studio.finalResult);
  const dl = await page.request.get(BASE + "/jobs/" + ctx.jobId + "/report.json");
  assert.equal(dl.status(), 200);
  const api = await dl.json();
  assert.ok(liveReport, "the finished message carried the report");
  for (const k of ["mean_dps", "stddev", "ci95_half_width", "min_dps", "max_dps", "iterations"]) {
    assert.equal(liveReport[k], api[k], k);
  }
  const shown = async (k) => (await page.locator('#report-stats dd[data-k="' + k + '"]').textContent()).trim();
  assert.equal(await shown("mean_dps"), fmt(api.mean_dps));
  assert.equal(await shown("stddev"), fmt(api.stddev));
  assert.equal(await shown("min_dps"), fmt(api.min_dps));
  assert.equal(await shown("max_dps"), fmt(api.max_dps));
  assert.equal(await shown("iterations"), fmt(api.iterations, 0));
  assert.equal(await shown("ci95"),
    fmt(api.mean_dps - api.ci95_half_width) + " – " + fmt(api.mean_dps + api.ci95_half_width));
  // Swapped in live on finish: the answer at the top, the same figure.
  assert.equal((await page.locator("#answer-mean").textContent()).trim(), fmt(api.mean_dps));
  assert.equal(await page.locator("#percentiles tbody tr").count(), api.percentiles.length);
  assert.equal(await page.locator("#abilities tbody tr").count(), api.abilities.length);
  assert.ok(await page.locator("#histogram rect").count() > 0);
  assert.ok(await page.getByRole("link", { name: "Download JSON" }).isVisible());
  // Contributing nodes from the stored results, by name, linking to the node page.
  const nodeLinks = page.locator('#nodes a[href^="/nodes/"]');
  assert.ok(await nodeLinks.count() >= 1, "the claimed node is listed as a contributor");
  assert.equal((await nodeLinks.first().textContent()).trim(), "browser-test-node");
  ctx.jobMean = fmt(api.mean_dps);
  // Reopened (owner): the answer first, at both widths.
  assert.equal(await answerFirst(page, ctx.jobUrl, "job-finished"), ctx.jobMean);
  assert.equal(await page.locator("#answer [data-partial=true]").count(), 0, "a completed job is not partial");
});

test("a target-error job: the form submits it and the half-width shrinks live toward the target", async () => {
  const { page } = ctx.alice;
  const target = 0.05;
  await page.goto(BASE + "/jobs/new");
  await page.getByLabel("Example profile").selectOption({ index: 0 });
  await page.getByLabel("Iterations").fill("60000");
  await page.getByLabel("Target error % (optional)").fill(String(target));
  await page.getByLabel("Seed (optional)").fill("7");
  await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/), page.getByRole("button", { name: "Run simulation" }).click()]);
  const id = page.url().split("/").pop();
  // Live: the half-width appears (text and chart, with the dashed target line).
  await until("a live half-width", () => page.evaluate(() => window.__studio.halfWidths.length >= 1), 120000, 100);
  // A horizontal line has no height, so Playwright calls it hidden: attached is the check.
  await page.locator("#halfwidth-chart line.target").waitFor({ state: "attached" });
  assert.match(await page.locator("#halfwidth").textContent(), /% \(target 0\.05 %\)/);
  await page.locator("#status .pill-completed").waitFor({ timeout: 300000 });
  const hw = await page.evaluate(() => window.__studio.halfWidths);
  assert.ok(hw.length >= 2, "several half-width points: " + JSON.stringify(hw));
  assert.ok(hw[hw.length - 1].pct < hw[0].pct, "the half-width shrank: " + JSON.stringify(hw));
  // The API reports the target, the waves and the half-width reached; the result stops on a
  // wave boundary (1024 · (2^waves − 1) iterations) meeting the target.
  const res = await page.request.get(BASE + "/api/jobs/" + id);
  assert.equal(res.status(), 200);
  const job = await res.json();
  assert.equal(job.target.targetError, target);
  assert.equal(job.target.maxIterations, 60000);
  assert.ok(job.target.halfWidthPct <= target, JSON.stringify(job.target));
  const report = await (await page.request.get(BASE + "/jobs/" + id + "/report.json")).json();
  assert.equal(report.iterations, 1024 * (2 ** job.target.wavesDone - 1));
  assert.ok(Math.abs(100 * report.ci95_half_width / report.mean_dps - job.target.halfWidthPct) < 1e-9);
  // Re-run keeps the target.
  await page.goto(BASE + "/jobs/new?from=" + id);
  assert.equal(await page.getByLabel("Target error % (optional)").inputValue(), String(target));
});

test("runs you can find: named, listed with DPS, renamed, profile shown, re-run, deleted", async () => {
  const { page } = ctx.alice;
  const title = "Burst cooldowns (melee, rage)"; // the first example's own name
  for (const [w, h] of [[1366, 768], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(BASE + "/");
    const row = page.locator('#jobs tbody tr[data-job="' + ctx.jobId + '"]');
    assert.equal((await row.locator('[data-k="name"]').textContent()).trim(), title);
    assert.match((await row.locator('[data-k="dps"]').textContent()).trim(), new RegExp("^" + ctx.jobMean.replace(/[.]/g, "\\.") + " ± [\\d,]+\\.\\d$"));
    assert.equal((await row.locator('[data-k="status"]').textContent()).trim(), "completed");
    assert.equal((await row.locator('[data-k="iterations"]').textContent()).trim(), fmt(ITERATIONS, 0));
    assert.match((await row.locator('[data-k="duration"]').textContent()).trim(), /^\d.* s$/);
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= w, "dashboard fits " + w);
    await page.screenshot({ path: path.join(SHOTS, "dashboard" + (w === 390 ? "-390" : "") + ".png"), fullPage: true });
  }
  await page.setViewportSize({ width: 1366, height: 900 });

  // Renamed on its page.
  await page.goto(ctx.jobUrl);
  assert.equal((await page.locator("#job-name").textContent()).trim(), title);
  await page.getByLabel("Name", { exact: true }).fill("   ");
  await page.getByRole("button", { name: "Rename" }).click();
  await fieldError(page, "#rename-name-error", /required/, page.getByLabel("Name", { exact: true }));
  await page.getByLabel("Name", { exact: true }).fill("Burst, seed 42");
  await page.getByRole("button", { name: "Rename" }).click();
  await page.locator("#job-name", { hasText: "Burst, seed 42" }).waitFor();

  // The profile it ran, as text.
  const prof = await page.request.get(BASE + (await page.getByRole("link", { name: "View profile" }).getAttribute("href")));
  assert.equal(prof.status(), 200);
  assert.equal(await prof.text(), PROFILE);
  assert.ok(await page.getByRole("link", { name: "Download profile" }).getAttribute("download"));

  // Re-run: the form starts from it.
  await Promise.all([page.waitForURL(/\/jobs\/new\?from=/), page.getByRole("link", { name: "Re-run or edit" }).click()]);
  assert.equal(await page.getByLabel("Profile (TOML)").inputValue(), PROFILE);
  assert.equal(await page.getByLabel("Iterations").inputValue(), String(ITERATIONS));
  assert.equal(await page.getByLabel("Name (optional)").inputValue(), "Burst, seed 42");

  // Delete a finished job (a small one made for it): gone from the dashboard and the API.
  const res = await page.request.post(BASE + "/api/jobs", { data: { profile: PROFILE, iterations: 500, seed: 1, name: "to delete" } });
  assert.equal(res.status(), 201);
  const doomed = (await res.json()).id;
  assert.equal((await page.request.delete(BASE + "/api/jobs/" + doomed)).status(), 409, "not while it runs");
  await page.goto(BASE + "/jobs/" + doomed);
  await page.locator("#status .pill-completed").waitFor({ timeout: 300000 });
  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(BASE + "/"), page.getByRole("button", { name: "Delete job" }).click()]);
  assert.equal(await page.locator('#jobs tr[data-job="' + doomed + '"]').count(), 0);
  assert.equal((await page.request.get(BASE + "/api/jobs/" + doomed)).status(), 404);
});

test("profile editor: line numbers, no soft wrap, the error line marked, examples by title, format reference", async () => {
  const { page } = ctx.alice;
  for (const [w, h] of [[1366, 900], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(BASE + "/jobs/new");
    const editor = page.getByLabel("Profile (TOML)");
    assert.equal(await editor.getAttribute("wrap"), "off");
    const options = await page.locator("#example option").allTextContents();
    assert.ok(options.includes("Burst cooldowns (melee, rage)") && options.includes("DoT builder (caster, shards)"), options.join());
    const lines = (await editor.inputValue()).split("\n").length;
    assert.equal(await page.locator("#profile-gutter span").count(), lines, "one number per line");
    await page.getByLabel("Example profile").selectOption({ label: "DoT builder (caster, shards)" });
    assert.equal(await page.locator("#profile-gutter span").count(), (await editor.inputValue()).split("\n").length);
    // An error on line 7 (past a few good lines): its number is marked.
    await editor.fill('version = 1\nname = "x"\n\n[fight]\nduration = 300\n\nnot valid toml here\n');
    await page.getByLabel("Iterations").fill("1000");
    await page.getByRole("button", { name: "Run simulation" }).click();
    await page.locator("#profile-error").filter({ hasText: /line 7, column \d+/ }).waitFor();
    assert.equal((await page.locator("#profile-gutter .bad").textContent()).trim(), "7");
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= w, "new simulation fits " + w);
    await page.screenshot({ path: path.join(SHOTS, "new-job" + (w === 390 ? "-390" : "") + ".png"), fullPage: w !== 390 });
    // Typing clears the mark.
    await editor.press("End");
    await editor.type(" ");
    assert.equal(await page.locator("#profile-gutter .bad").count(), 0);
  }
  await page.setViewportSize({ width: 1200, height: 900 });
  const ref = await page.request.get(BASE + (await page.getByRole("link", { name: "Profile format reference" }).getAttribute("href")));
  assert.equal(ref.status(), 200);
  assert.match(await ref.text(), /## Profile format \(version 1\)/);
});

test("tokens page: create (shown once), list, use from wowlab run, revoke", async () => {
  const { page } = ctx.alice;
  for (const [w, h] of [[1366, 768], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(BASE + "/tokens");
    assert.ok(await page.getByRole("link", { name: "claim token", exact: true }).isVisible());
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= w, "no overflow at " + w);
  }
  await page.setViewportSize({ width: 1366, height: 900 });
  await page.getByRole("link", { name: "Tokens", exact: true }).click();
  await page.waitForURL(BASE + "/tokens");
  // Bad values next to their field.
  await page.getByRole("button", { name: "Create token" }).click();
  await fieldError(page, "#token-name-error", /required/, page.getByLabel("Name", { exact: true }));
  await page.getByLabel("Name", { exact: true }).fill("ci runner");
  await page.getByLabel(/^Expires after/).fill("4000");
  await page.getByRole("button", { name: "Create token" }).click();
  await fieldError(page, "#token-days-error", /at most 3650/, page.getByLabel(/^Expires after/));
  await page.getByLabel(/^Expires after/).fill("");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.locator("#token-created").waitFor();
  const secret = (await page.locator("#token-secret").textContent()).trim();
  assert.match(secret, /^wl_[0-9a-f]+$/);
  assert.match(await page.locator("#token-command").textContent(), new RegExp("--sentinel " + BASE + " --token " + secret));
  const row = page.locator("#api-tokens tbody tr", { hasText: "ci runner" });
  assert.equal(await row.count(), 1);
  await page.screenshot({ path: path.join(SHOTS, "tokens.png"), fullPage: true });
  // Shown once: after a reload the row stays, the secret is gone.
  await page.reload();
  assert.equal(await row.count(), 1);
  assert.ok(!(await page.content()).includes(secret));

  // `wowlab run --sentinel` with it prints the job id and its studio URL.
  const out = await new Promise((resolve, reject) => {
    const p = spawn(BIN, ["run", fileURLToPath(new URL("../../examples/profiles/pet-procs.toml", import.meta.url)),
      "-n", "2000", "--seed", "3", "--quiet", "--sentinel", BASE, "--token", secret], { env: { ...process.env, RUST_LOG: "warn" } });
    let stderr = "", stdout = "";
    p.stderr.on("data", (d) => (stderr += d));
    p.stdout.on("data", (d) => (stdout += d));
    p.on("error", reject);
    p.on("exit", (code) => resolve({ code, stderr, stdout }));
  });
  assert.equal(out.code, 0, out.stderr);
  const m = new RegExp("job ([0-9a-f-]{36}) submitted: " + BASE + "/jobs/([0-9a-f-]{36})").exec(out.stderr);
  assert.ok(m && m[1] === m[2], "job id and URL printed: " + out.stderr);
  assert.equal((await page.goto(BASE + "/jobs/" + m[1])).status(), 200, "the printed URL opens the job");
  await page.locator("#answer-mean").waitFor();

  // Revoked: gone from the list, and the CLI is refused.
  await page.goto(BASE + "/tokens");
  page.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: "Revoke" }).click();
  await until("row removed", async () => (await row.count()) === 0, 10000, 100);
  const refused = await page.request.get(BASE + "/api/jobs", { headers: { authorization: "Bearer " + secret } });
  assert.equal(refused.status(), 401);
  await page.reload();
  assert.equal(await row.count(), 0);
});

test("a busy node shows its cores in use and sims/s on the nodes page and the grid totals", async () => {
  const { page } = ctx.alice;
  await page.setViewportSize({ width: 1200, height: 900 });
  // A long job keeps the node's one slot busy while we look; cancelled at the end.
  const res = await page.request.post(BASE + "/api/jobs", {
    data: { profile: PROFILE, iterations: 50000000, seed: 5 },
  });
  assert.equal(res.status(), 201, await res.text());
  const job = await res.json();
  try {
    await page.goto(BASE + "/nodes");
    const row = page.locator("#my-nodes tbody tr", { hasText: "browser-test-node" });
    const cell = (k) => row.locator('[data-k="' + k + '"]').textContent();
    const inUseOf = (t) => Number(String(t).split("/")[0]);
    const busy = await until("the node's cores in use and sims/s on the nodes page", async () => {
      await page.reload();
      const inUse = await cell("cores-in-use");
      const sims = num(await cell("sims"));
      return inUseOf(inUse) >= 1 && inUse.trim().endsWith("/ " + ctx.nodeCores) && sims > 0
        ? { inUse, sims } : false;
    }, 90000, 1000);
    assert.ok(busy.sims > 0);
    // One slot (--max-parallel 1): one core computes, however many leases it has queued.
    assert.equal(inUseOf(busy.inUse), 1, busy.inUse);
    assert.equal((await cell("capacity")).trim(), "1");
    await page.getByRole("button", { name: "Generate claim token" }).click();
    await until("token", () => page.evaluate(() => document.getElementById("node-command").dataset.token));
    await page.screenshot({ path: path.join(SHOTS, "nodes.png"), fullPage: true });

    // The API lists the same figures (polled: between two chunks the node briefly holds none).
    await until("the node's figures in GET /api/nodes", async () => {
      const nodes = await (await page.request.get(BASE + "/api/nodes")).json();
      const mine = nodes.find((n) => n.name === "browser-test-node");
      return mine.status === "online" && mine.coresInUse === 1 && mine.load.activeChunks >= 1
        && mine.load.runningChunks === 1 && mine.capacity === 1 && mine.localMaxParallel === 1
        && mine.maxParallel === ctx.nodeCores
        && mine.simsPerSec > 0 && mine.simsPerSec === mine.load.simsPerSec;
    }, 30000, 500);

    // The node page and the grid totals (dashboard and the public grid page) count it.
    await page.getByRole("link", { name: "browser-test-node" }).click();
    await page.waitForURL(/\/nodes\/[0-9a-f-]{36}$/);
    await until("the node page's cores in use and sims/s", async () => {
      await page.reload();
      const fact = (k) => page.locator('#node-facts [data-k="' + k + '"]').textContent();
      return inUseOf(await fact("cores-in-use")) >= 1 && num(await fact("sims")) > 0;
    }, 30000, 1000);
    assert.match(await page.locator('#node-facts [data-k="capacity"]').textContent(), /^1 parallel chunks/);
    assert.match(await page.locator(".node-settings .hint").first().textContent(), /limits itself to 1/);
    assert.match(await page.locator('#node-facts [data-k="memory"]').textContent(), /GiB/);
    for (const p of [BASE + "/", BASE + "/grid"]) {
      await until("grid totals on " + p, async () => {
        await page.goto(p);
        const stat = (k) => page.locator('[data-stat="' + k + '"]').textContent();
        const totalsOk = num(await stat("cores-in-use")) >= 1 && num(await stat("sims")) > 0
          && num(await stat("cores")) >= ctx.nodeCores;
        if (!p.endsWith("/grid")) return totalsOk;
        // The public page lists online machines by number, not by name.
        const machine = page.locator("#machines tbody tr").first();
        return totalsOk && Number((await machine.locator('[data-k="cores-in-use"]').textContent()).split("/")[0]) >= 1
          && !(await page.content()).includes("browser-test-node");
      }, 30000, 1000);
    }
    // At least one chunk merged before the cancel, so there is a partial result to show.
    await until("a merged chunk", async () => {
      const j = await (await page.request.get(BASE + "/api/jobs/" + job.id)).json();
      return j.progress && j.progress.done >= 1;
    }, 120000, 500);
  } finally {
    const c = await page.request.post(BASE + "/api/jobs/" + job.id + "/cancel");
    assert.equal(c.status(), 200, await c.text());
  }
  // The cancelled job keeps what was merged, labelled partial, and never reads 0 DPS.
  const cancelled = BASE + "/jobs/" + job.id;
  const partialMean = await answerFirst(page, cancelled, "job-cancelled");
  assert.ok(num(partialMean) > 0, "partial mean " + partialMean);
  assert.match(await page.locator(".answer-partial").textContent(),
    /Partial result: [\d,]+ of 50,000,000 iterations were merged before the job was cancelled/);
  assert.equal((await page.locator("#report-h").textContent()).trim(), "Report (partial)");
  // Without a reload, the nodes page follows the node going idle (nodes.js polls /api/nodes).
  await page.goto(BASE + "/nodes");
  const inUse = page.locator('#my-nodes tbody tr:has-text("browser-test-node") [data-k="cores-in-use"]');
  await inUse.filter({ hasText: "0 / " + ctx.nodeCores }).waitFor({ timeout: 30000 });
});

test("no horizontal overflow at 360 px", async () => {
  const { page } = ctx.alice;
  await page.setViewportSize({ width: 360, height: 800 });
  await page.goto(BASE + "/nodes");
  const nodePage = BASE + await page.getByRole("link", { name: "browser-test-node" }).getAttribute("href");
  for (const p of [ctx.jobUrl, BASE + "/nodes", nodePage, BASE + "/", BASE + "/jobs/new", BASE + "/grid"]) {
    await page.goto(p);
    const w = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(w <= 360, p + " is " + w + " px wide");
  }
  await page.setViewportSize({ width: 1200, height: 900 });
});

test("a second user cannot open the first user's private job or its job token", async () => {
  const bob = await newUser("bob@example.org");
  const res = await bob.page.goto(ctx.jobUrl);
  assert.equal(res.status(), 404);
  assert.match(await bob.page.locator("h1").textContent(), /not found/i);
  const tok = await bob.page.request.get(BASE + "/api/realtime/job-token?jobId=" + ctx.jobId);
  assert.equal(tok.status(), 404);
  const body = await tok.json();
  assert.equal(body.error.code, "not_found");
  assert.equal((await bob.page.request.get(BASE + "/jobs/" + ctx.jobId + "/report.json")).status(), 404);
  const own = await ctx.alice.page.request.get(BASE + "/api/realtime/job-token?jobId=" + ctx.jobId);
  assert.equal(own.status(), 200);

  // The owner makes it public after the fact: Bob then reads it, without owner controls.
  const alice = ctx.alice.page;
  await alice.goto(ctx.jobUrl);
  await alice.getByRole("button", { name: "Make public" }).click();
  await alice.getByRole("button", { name: "Make private" }).waitFor({ timeout: 10000 });
  assert.ok(await alice.locator("#share").isVisible(), "the read-only link is shown");
  const shared = await bob.page.goto(ctx.jobUrl);
  assert.equal(shared.status(), 200);
  // The shared link opens on the answer too, at both widths.
  assert.equal(await answerFirst(bob.page, ctx.jobUrl), ctx.jobMean);
  assert.equal(await bob.page.locator("#cancel").count(), 0);
  assert.equal(await bob.page.locator("#visibility").count(), 0);
  assert.equal((await bob.page.request.get(BASE + "/jobs/" + ctx.jobId + "/report.json")).status(), 200);
  await bob.context.close();
});

test("anyone holding a public link follows the job live without signing in", async () => {
  // Alice submits a public job; a visitor with no account opens its link while it runs.
  const { page } = ctx.alice;
  await page.goto(BASE + "/jobs/new");
  await page.getByLabel("Example profile").selectOption({ index: 0 });
  await page.getByLabel("Iterations").fill(String(ITERATIONS));
  await page.getByLabel(/^Public/).check();
  await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/), page.getByRole("button", { name: "Run simulation" }).click()]);
  const url = page.url();
  const id = url.split("/").pop();
  const visitor = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const v = await visitor.newPage();
  v.on("pageerror", (e) => console.error("page error:", e.message));
  const res = await v.goto(url);
  assert.equal(res.status(), 200);
  assert.equal((await v.request.get(BASE + "/api/jobs/" + id)).status(), 200);
  const tok = await v.request.get(BASE + "/api/realtime/job-token?jobId=" + id);
  assert.equal(tok.status(), 200, "a subscribe-only token for the public channel");
  assert.equal((await tok.json()).channel, "jobs:" + id);
  await until("the visitor's page goes live", () =>
    v.evaluate(() => window.__studio && window.__studio.connection === "connected"), 30000, 100);
  await v.locator("#status .pill-completed").waitFor({ timeout: 300000 });
  assert.ok(await v.evaluate(() => window.__studio.messages) > 0, "live messages reached the visitor");
  assert.equal(await v.locator("#cancel").count(), 0, "no owner controls for a visitor");
  // A private job stays hidden from the same visitor.
  assert.equal((await v.goto(ctx.jobUrl.replace(ctx.jobId, "00000000-0000-4000-8000-000000000000"))).status(), 404);
  await visitor.close();
});

test("node settings: bad values inline, rename, drain/resume, bad claim code, unlink", async () => {
  const { page } = ctx.alice;
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto(BASE + "/nodes");
  // A claim code no node shows: the API's 404 message lands under the code field.
  const code = page.getByLabel("Or enter the claim code an unowned node shows");
  await code.fill("NOPE-0000");
  await page.getByRole("button", { name: "Claim node" }).click();
  await fieldError(page, "#code-error", /no unclaimed node/, code);
  await code.fill("no such $code");
  await page.getByRole("button", { name: "Claim node" }).click();
  await fieldError(page, "#code-error", /letters, digits and dashes/, code);
  await code.fill("");
  await page.getByRole("button", { name: "Claim node" }).click();
  await fieldError(page, "#code-error", /required/, code);

  await page.getByRole("link", { name: "browser-test-node" }).click();
  await page.waitForURL(/\/nodes\/[0-9a-f-]{36}$/);
  const cap = page.getByLabel("Capacity (parallel chunks)");
  await cap.fill("0");
  await page.getByRole("button", { name: "Save" }).click();
  await fieldError(page, '[data-field="maxParallel"]', /at least 1/, cap);
  await cap.fill("2000");
  await page.getByRole("button", { name: "Save" }).click();
  await fieldError(page, '[data-field="maxParallel"]', /at most 1024/, cap);
  await cap.fill("1.5");
  await page.getByRole("button", { name: "Save" }).click();
  await fieldError(page, '[data-field="maxParallel"]', /whole number/, cap);
  await cap.fill("1");
  const name = page.getByLabel("Name");
  await name.fill("   ");
  await page.getByRole("button", { name: "Save" }).click();
  await fieldError(page, '[data-field="name"]', /required/, name);
  // Past the page's own limit (as a script could send): the API's field error shows.
  await name.evaluate((i) => i.removeAttribute("maxlength"));
  await name.fill("n".repeat(65));
  await page.getByRole("button", { name: "Save" }).click();
  await fieldError(page, '[data-field="name"]', /1 to 64 characters/, name);
  await page.getByLabel("Name").fill("renamed-node");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator("h1", { hasText: "renamed-node" }).waitFor();
  await page.getByRole("button", { name: "Drain" }).click();
  await page.getByRole("button", { name: "Resume" }).waitFor();
  await page.getByRole("button", { name: "Resume" }).click();
  await page.getByRole("button", { name: "Drain" }).waitFor();

  page.once("dialog", (d) => d.accept());
  await Promise.all([page.waitForURL(BASE + "/nodes"), page.getByRole("button", { name: "Unlink node" }).click()]);
  assert.equal(await page.locator("#my-nodes tbody tr", { hasText: "renamed-node" }).count(), 0);
});

test("sign out, sign-in errors inline, sign in again", async () => {
  const { page } = ctx.alice;
  await Promise.all([page.waitForURL(/\/signin/), page.getByRole("button", { name: "Sign out" }).click()]);
  const res = await page.goto(BASE + "/nodes");
  assert.match(page.url(), /\/signin\?next=\/nodes$/);
  assert.equal(res.status(), 200);
  await page.getByRole("button", { name: "Sign in" }).click();
  await fieldError(page, "#email-error", /required/, page.getByLabel("Email"));
  await page.getByLabel("Email").fill("alice@example.org");
  await page.getByLabel("Password").fill("wrong password!");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".form-error, #password-error").filter({ hasText: /wrong email or password/ }).first().waitFor();
  await page.getByLabel("Password").fill("correct horse battery");
  await Promise.all([page.waitForURL(BASE + "/nodes"), page.getByRole("button", { name: "Sign in" }).click()]);
});

test("a job whose chunks always fail shows failed and the reason live, without a reload", async () => {
  const { page } = ctx.alice;
  // Swap the healthy node for one whose every chunk exceeds its time limit.
  if (node) {
    node.kill("SIGTERM");
    await new Promise((r) => node.once("exit", r));
    node = null;
  }
  await page.goto(BASE + "/nodes");
  await page.getByRole("button", { name: "Generate claim token" }).click();
  const token = await until("claim token", () =>
    page.evaluate(() => document.getElementById("node-command").dataset.token));
  // The job is submitted while no node is up, so its page is live before any chunk fails.
  await page.goto(BASE + "/jobs/new");
  await page.getByLabel("Example profile").selectOption({ index: 0 });
  await page.getByLabel("Iterations").fill("20000");
  await Promise.all([page.waitForURL(/\/jobs\/[0-9a-f-]{36}$/), page.getByRole("button", { name: "Run simulation" }).click()]);
  // Survives only as long as this document does: a reload would drop it.
  await page.evaluate(() => { window.__sameDocument = true; });
  await until("the page is live", () => page.evaluate(() => window.__studio.connection === "connected"), 30000, 100);
  const dataDir = mkdtempSync(path.join(tmpdir(), "studio-failing-node-"));
  nodeDirs.push(dataDir);
  node = spawn(BIN, ["node", "--sentinel", BASE, "--claim-token", token, "--data-dir", dataDir,
    "--max-parallel", "1", "--name", "failing-node", "--chunk-timeout-ms", "1"], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, WOWLAB_NODE_HEARTBEAT_MS: "1000" },
  });
  await page.locator("#status .pill-failed").waitFor({ timeout: 120000 });
  const reason = (await page.locator("#failure").textContent()).trim();
  assert.match(reason, /time limit/, "the reason is shown: " + reason);
  assert.equal(await page.evaluate(() => window.__studio.status), "failed", "learned from the live message");
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
  // Nothing was merged: the page says so instead of showing a 0 DPS estimate.
  await page.locator("#answer-none").filter({ hasText: /nothing was merged before the job failed/ }).waitFor();
  assert.ok(!(await page.locator("#answer").textContent()).includes("0.0"));
  await page.screenshot({ path: path.join(SHOTS, "job-failed.png"), fullPage: true });
});
