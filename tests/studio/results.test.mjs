// Results in a real browser, at 1366 px and 390 px: a finished job opens on its answer with
// the convergence chart drawn from stored progress, the exact histogram (mean and median
// marked), percentiles, abilities and contributing nodes; a cancelled job shows what was
// merged, labelled partial; a public link is absolute with a copy button; two runs compare
// (difference with its CI and significance, ability deltas, overlaid charts); studio and CLI
// print the same number format. Starts its own `wowlab up --nodes 1` (run by run.sh).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { launchChromium, signUp, until, startUp } from "./support.mjs";

const BIN = process.env.WOWLAB_BIN;
const SHOTS = process.env.STUDIO_SCREENSHOTS;
assert.ok(BIN, "run through tests/studio/run.sh");
const profilePath = (name) => new URL("../../examples/profiles/" + name, import.meta.url);
const PROFILE = readFileSync(profilePath("burst-cooldowns.toml"), "utf8");
const OTHER = readFileSync(profilePath("pet-procs.toml"), "utf8");
const WIDTHS = [[1366, 768], [390, 844]];
/** The one number format: comma thousands groups, one decimal for DPS. */
const GROUPED = /^-?\d{1,3}(,\d{3})*(\.\d+)?$/;

let up;
let base;
let browser;
let page; // signed in as the owner
const jobs = {};

before(async () => {
  ({ up, base } = await startUp(BIN, "wowlab-results-"));
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  page = await context.newPage();
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await signUp(page, base, "results@example.org");
  if (SHOTS) mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (up) up.kill("SIGTERM");
});

async function submit(profile, iterations, seed, chunkSize) {
  const r = await page.request.post(base + "/api/jobs", { data: { profile, iterations, seed, chunkSize } });
  assert.equal(r.status(), 201, await r.text());
  return (await r.json()).id;
}

async function finished(id) {
  return until("job " + id + " finished", async () => {
    const j = await (await page.request.get(base + "/api/jobs/" + id)).json();
    return ["completed", "failed", "cancelled"].includes(j.status) ? j : false;
  }, 300000, 500);
}

/** Every text of the page's charts lies inside the viewport (no label is cut). */
async function chartTextInside(p, w) {
  const out = await p.evaluate(() => Array.from(document.querySelectorAll("svg.plot text")).map((t) => {
    const r = t.getBoundingClientRect();
    return { text: t.textContent, left: r.left, right: r.right };
  }));
  assert.ok(out.length > 0, "charts have labels");
  for (const t of out) assert.ok(t.left >= 0 && t.right <= w + 0.5, "label " + JSON.stringify(t) + " inside " + w);
  assert.ok((await p.evaluate(() => document.documentElement.scrollWidth)) <= w, "no horizontal overflow at " + w);
}

/** The axes of a chart: x title, one y title, round ticks in the one number format. */
async function axes(p, id, xTitle, yTitle) {
  const svg = p.locator("svg#" + id);
  assert.equal((await svg.locator(".x-title").textContent()).trim(), xTitle);
  assert.equal(await svg.locator(".y-title").count(), 1, "one y label");
  assert.equal((await svg.locator(".y-title").textContent()).trim(), yTitle);
  for (const sel of [".x-ticks text", ".y-ticks text"]) {
    const ticks = await svg.locator(sel).allTextContents();
    assert.ok(ticks.length >= 2, id + " " + sel + ": " + ticks);
    for (const t of ticks) assert.match(t, GROUPED, id + " tick " + t);
  }
}

test("a finished job opens on its answer, the stored convergence, a true histogram and its nodes", async () => {
  jobs.a = await submit(PROFILE, 20000, 42, 500);
  const j = await finished(jobs.a);
  assert.equal(j.status, "completed");
  const api = await (await page.request.get(base + "/api/jobs/" + jobs.a + "/result")).json();
  for (const [w, h] of WIDTHS) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(base + "/jobs/" + jobs.a);
    const mean = page.locator("#answer-mean");
    const box = await mean.boundingBox();
    assert.ok(box && box.y + box.height <= h, "the DPS is on the first screen at " + w);
    assert.match((await mean.textContent()).trim(), GROUPED);
    assert.equal(Number((await mean.textContent()).replace(/,/g, "")), Math.round(api.meanDps * 10) / 10);
    // The convergence chart from stored points: a line through several of them.
    const line = await page.locator("svg#convergence polyline.line").getAttribute("points");
    assert.ok(line.trim().split(/\s+/).length >= 2, "several stored points: " + line);
    await axes(page, "convergence", "Iterations", "DPS");
    // The histogram's bars are the exact bins: their counts add up to the iterations.
    const counts = await page.locator("svg#histogram rect.bar").evaluateAll((rs) => rs.map((r) => Number(r.dataset.count)));
    assert.ok(counts.length >= 10, "bins: " + counts.length);
    assert.equal(counts.reduce((a, b) => a + b, 0), 20000);
    assert.deepEqual(counts, api.distribution.map((b) => b.count));
    await axes(page, "histogram", "DPS", "% of iterations");
    const markMean = Number(await page.locator("svg#histogram .mark-mean").getAttribute("data-value"));
    assert.equal(markMean, api.meanDps);
    const median = api.percentiles.find((p) => p.p === 50).dps;
    assert.equal(Number(await page.locator("svg#histogram .mark-median").getAttribute("data-value")), median);
    assert.equal(await page.locator("#percentiles tbody tr").count(), api.percentiles.length);
    assert.equal(await page.locator("#abilities tbody tr").count(), api.abilities.length);
    // Contributing nodes, from the stored results, with how many chunks each merged.
    const nodes = await page.locator("#nodes li").allTextContents();
    assert.ok(nodes.length >= 1 && nodes.every((n) => /\d+ chunks?/.test(n)), "contributors: " + nodes);
    const total = nodes.map((n) => Number(/([\d,]+) chunks?/.exec(n)[1].replace(/,/g, ""))).reduce((a, b) => a + b, 0);
    assert.equal(total, 40, "every chunk is counted once");
    const text = await page.locator("#answer, #report, #convergence-figure").allTextContents();
    assert.ok(!text.join(" ").includes("—"), "no placeholder on a finished job");
    await chartTextInside(page, w);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, "job-finished" + (w === 390 ? "-390" : "") + ".png"), fullPage: w !== 390 });
  }
  await page.setViewportSize({ width: 1366, height: 768 });
});

test("studio and CLI print the same numbers in the same format", async () => {
  const id = await submit(PROFILE, 2000, 7, 250);
  await finished(id);
  await page.goto(base + "/jobs/" + id);
  const studio = (await page.locator("#answer-mean").textContent()).trim();
  const cli = execFileSync(BIN, ["sim", profilePath("burst-cooldowns.toml").pathname, "-n", "2000", "--seed", "7", "--quiet"], { encoding: "utf8" });
  const dps = /^DPS\s+(\S+)$/m.exec(cli);
  assert.ok(dps, cli);
  assert.equal(dps[1], studio, "the same mean, formatted the same");
  assert.match(cli, /^Iterations\s+2,000\s/m);
  const ci = (await page.locator("#answer-ci").textContent()).trim();
  assert.ok(cli.includes("± " + ci), "the same CI: " + ci);
});

test("a cancelled job shows the partial result of what was merged, with its convergence", async () => {
  const id = await submit(PROFILE, 50000000, 3, 2000);
  await until("some chunks merged", async () => {
    const j = await (await page.request.get(base + "/api/jobs/" + id)).json();
    return j.progress && j.progress.done >= 6;
  }, 120000, 500);
  // Let the projector store a few points of what was merged.
  await page.waitForTimeout(1500);
  const r = await page.request.post(base + "/api/jobs/" + id + "/cancel");
  assert.ok(r.ok(), await r.text());
  await finished(id);
  for (const [w, h] of WIDTHS) {
    await page.setViewportSize({ width: w, height: h });
    await page.goto(base + "/jobs/" + id);
    assert.equal(await page.locator('#answer [data-partial="true"]').count(), 1);
    assert.match(await page.locator(".answer-partial").textContent(), /Partial result: [\d,]+ of 50,000,000 iterations/);
    const mean = (await page.locator("#answer-mean").textContent()).trim();
    assert.match(mean, GROUPED);
    assert.ok(Number(mean.replace(/,/g, "")) > 0, "not a zero estimate");
    assert.ok((await page.locator("svg#convergence polyline.line").getAttribute("points")).trim().length > 0);
    assert.ok(await page.locator("svg#histogram rect.bar").count() > 0);
    assert.ok((await page.locator("#nodes li").count()) >= 1);
    await chartTextInside(page, w);
  }
  await page.setViewportSize({ width: 1366, height: 768 });
});

test("a public link is absolute, copies, says what was simulated and opens on the answer", async () => {
  const r = await page.request.post(base + "/api/jobs/" + jobs.a + "/visibility", { data: { public: true } });
  assert.ok(r.ok(), await r.text());
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await page.goto(base + "/jobs/" + jobs.a);
  const link = base + "/jobs/" + jobs.a;
  assert.equal((await page.locator("#share").textContent()).trim(), link);
  assert.match(await page.locator("#share-what").textContent(), /Simulates .+: 20,000 iterations, seed 42\./);
  await page.locator("#copy-share").click();
  await page.locator("#copy-status").filter({ hasText: "Copied." }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), link);
  // Anyone holding it, signed out, at both widths.
  const anon = await browser.newContext();
  const v = await anon.newPage();
  for (const [w, h] of WIDTHS) {
    await v.setViewportSize({ width: w, height: h });
    await v.goto(link);
    const box = await v.locator("#answer-mean").boundingBox();
    assert.ok(box && box.y + box.height <= h, "the DPS first at " + w);
    assert.ok(await v.locator("svg#convergence").isVisible());
    assert.ok(await v.locator("svg#histogram").isVisible());
    await chartTextInside(v, w);
  }
  await anon.close();
});

test("two runs compare: difference with its CI and significance, ability deltas, overlaid charts", async () => {
  jobs.b = await submit(PROFILE, 20000, 43, 500);
  jobs.c = await submit(OTHER, 20000, 42, 500);
  await finished(jobs.b);
  await finished(jobs.c);
  // From the job page: its compare link, then the picker.
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.goto(base + "/jobs/" + jobs.a);
  await Promise.all([page.waitForURL(/\/compare\?/), page.locator("#compare-link").click()]);
  assert.equal(await page.locator("#compare-empty").count(), 1, "one run is not a comparison");
  await page.locator('#compare-picker input[value="' + jobs.b + '"]').check();
  await Promise.all([page.waitForURL(/jobs=.*jobs=/), page.getByRole("button", { name: "Compare" }).click()]);
  const rows = page.locator("#compare-dps tbody tr");
  assert.equal(await rows.count(), 2);
  assert.equal(await rows.nth(0).getAttribute("data-job"), jobs.a, "the first checked is the baseline");
  const [ra, rb] = await Promise.all([jobs.a, jobs.b].map(async (id) => (await page.request.get(base + "/api/jobs/" + id + "/result")).json()));
  const diffCell = rows.nth(1).locator("td.diff");
  assert.ok(Math.abs(Number(await diffCell.getAttribute("data-diff")) - (rb.meanDps - ra.meanDps)) < 1e-6);
  const hw = Math.sqrt(ra.ci95HalfWidth ** 2 + rb.ci95HalfWidth ** 2);
  assert.ok(Math.abs(Number(await diffCell.getAttribute("data-half-width")) - hw) < 1e-3 * hw, "CI of the difference");
  const significant = Math.abs(rb.meanDps - ra.meanDps) > hw;
  assert.equal(await rows.nth(1).locator("td.significance").getAttribute("data-significant"), String(significant));
  assert.ok((await page.locator("#compare-abilities tbody tr").count()) >= ra.abilities.length);
  assert.equal(await page.locator("svg#compare-convergence g.series").count(), 2, "convergence overlaid");
  assert.equal(await page.locator("svg#compare-histogram g.series:not(.mark)").count(), 2, "distributions overlaid");
  await axes(page, "compare-convergence", "Iterations", "DPS");
  await axes(page, "compare-histogram", "DPS", "% of iterations");
  for (const [w, h] of WIDTHS) {
    await page.setViewportSize({ width: w, height: h });
    await page.reload();
    await chartTextInside(page, w);
    if (SHOTS) await page.screenshot({ path: path.join(SHOTS, "compare" + (w === 390 ? "-390" : "") + ".png"), fullPage: true });
  }
  // A different profile differs significantly.
  await page.setViewportSize({ width: 1366, height: 768 });
  await page.goto(base + "/compare?jobs=" + jobs.a + "," + jobs.c);
  assert.equal(await page.locator("#compare-dps tbody tr").nth(1).locator("td.significance").getAttribute("data-significant"), "true");
  // Someone else cannot compare these private runs.
  const other = await browser.newContext();
  const o = await other.newPage();
  await signUp(o, base, "someone@example.org");
  await o.goto(base + "/compare?jobs=" + jobs.b + "," + jobs.c);
  assert.equal(await o.locator("#compare-dps").count(), 0);
  assert.ok((await o.locator(".error").allTextContents()).some((t) => /that you can open/.test(t)));
  await other.close();
});
