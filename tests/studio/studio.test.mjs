// Studio end to end in a real browser: sign up, claim a node started by the test, submit a job,
// live progress, reconnect recovery, final report equals the API result, privacy between users,
// inline profile errors, 360 px layout. Started by run.sh (which provides STUDIO_URL etc.).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.STUDIO_URL;
const BIN = process.env.WOWLAB_BIN;
const SHOTS = process.env.STUDIO_SCREENSHOTS;
const ITERATIONS = Number(process.env.STUDIO_ITERATIONS || 60000);
assert.ok(BASE && BIN, "run through tests/studio/run.sh");

let browser;
let node; // the `wowlab node` child process
const ctx = {}; // shared facts between the ordered tests

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, timeoutMs = 60000, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error("timed out waiting for " + what + " (last: " + last + ")");
}

async function newUser(email) {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(BASE + "/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await Promise.all([page.waitForURL(BASE + "/"), page.getByRole("button", { name: "Sign up" }).click()]);
  return { context, page };
}

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      // No --user-data-dir: launch() always gives chromium a fresh temporary profile.
    ],
  });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (node) node.kill("SIGTERM");
  if (browser) await browser.close();
});

test("sign up shows field errors, then lands on the dashboard", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(BASE + "/signup");
  await page.getByLabel("Email").fill("someone@example.org");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.locator("#password-error").filter({ hasText: /8/ }).waitFor();
  await context.close();

  const u = await newUser("alice@example.org");
  ctx.alice = u;
  assert.match(await u.page.locator("h1").textContent(), /Dashboard/);
  assert.ok(await u.page.locator('section[aria-label="Grid totals"]').isVisible());
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
  node = spawn(BIN, ["node", "--sentinel", BASE, "--claim-token", token, "--data-dir", dataDir,
    "--max-parallel", "1", "--name", "browser-test-node"], { stdio: ["ignore", "inherit", "inherit"] });
  await until("node online on the nodes page", async () => {
    await page.reload();
    const row = page.locator("#my-nodes tbody tr", { hasText: "browser-test-node" });
    return (await row.count()) === 1 && /online/.test(await row.textContent());
  }, 60000, 1000);
  await page.getByRole("button", { name: "Generate claim token" }).click();
  await until("token", () => page.evaluate(() => document.getElementById("node-command").dataset.token));
  await page.screenshot({ path: path.join(SHOTS, "nodes.png"), fullPage: true });
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
  assert.equal(await shown("mean_dps"), api.mean_dps.toFixed(1));
  assert.equal(await shown("stddev"), api.stddev.toFixed(1));
  assert.equal(await shown("min_dps"), api.min_dps.toFixed(1));
  assert.equal(await shown("max_dps"), api.max_dps.toFixed(1));
  assert.equal(await shown("iterations"), String(api.iterations));
  assert.equal(await shown("ci95"),
    (api.mean_dps - api.ci95_half_width).toFixed(1) + " – " + (api.mean_dps + api.ci95_half_width).toFixed(1));
  assert.equal(await page.locator("#percentiles tbody tr").count(), api.percentiles.length);
  assert.equal(await page.locator("#abilities tbody tr").count(), api.abilities.length);
  assert.ok(await page.locator("#histogram rect").count() > 0);
  assert.ok(await page.getByRole("link", { name: "Download JSON" }).isVisible());
  // Contributing nodes from the progress payloads, as short ids linking to the node page.
  const nodeLinks = page.locator('#nodes a[href^="/nodes/"]');
  assert.ok(await nodeLinks.count() >= 1, "the claimed node is listed as a contributor");
  assert.equal((await nodeLinks.first().textContent()).trim().length, 8);
  await page.screenshot({ path: path.join(SHOTS, "job-finished.png"), fullPage: true });
});

test("no horizontal overflow at 360 px", async () => {
  const { page } = ctx.alice;
  await page.setViewportSize({ width: 360, height: 800 });
  for (const p of [ctx.jobUrl, BASE + "/nodes", BASE + "/", BASE + "/jobs/new", BASE + "/grid"]) {
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
  assert.equal(await bob.page.locator("#cancel").count(), 0);
  assert.equal(await bob.page.locator("#visibility").count(), 0);
  assert.equal((await bob.page.request.get(BASE + "/jobs/" + ctx.jobId + "/report.json")).status(), 200);
  await bob.context.close();
});

test("node settings: bad values inline, rename, drain/resume, bad claim code, unlink", async () => {
  const { page } = ctx.alice;
  await page.setViewportSize({ width: 1200, height: 900 });
  await page.goto(BASE + "/nodes");
  // A claim code no node shows: the API's 404 message lands under the code field.
  await page.getByLabel("Or enter the claim code an unowned node shows").fill("NOPE-0000");
  await page.getByRole("button", { name: "Claim node" }).click();
  await page.locator("#code-error").filter({ hasText: /no unclaimed node/ }).waitFor();

  await page.getByRole("link", { name: "browser-test-node" }).click();
  await page.waitForURL(/\/nodes\/[0-9a-f-]{36}$/);
  const cap = page.getByLabel("Capacity (parallel chunks)");
  await cap.fill("0");
  await page.getByRole("button", { name: "Save" }).click();
  await page.locator('[data-field="maxParallel"]').filter({ hasText: /at least 1/ }).waitFor();
  await cap.fill("1");
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

test("sign out, wrong password inline, sign in again", async () => {
  const { page } = ctx.alice;
  await Promise.all([page.waitForURL(/\/signin/), page.getByRole("button", { name: "Sign out" }).click()]);
  const res = await page.goto(BASE + "/nodes");
  assert.match(page.url(), /\/signin\?next=\/nodes$/);
  assert.equal(res.status(), 200);
  await page.getByLabel("Email").fill("alice@example.org");
  await page.getByLabel("Password").fill("wrong password!");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".form-error, #password-error").filter({ hasText: /wrong email or password/ }).first().waitFor();
  await page.getByLabel("Password").fill("correct horse battery");
  await Promise.all([page.waitForURL(BASE + "/nodes"), page.getByRole("button", { name: "Sign in" }).click()]);
});
