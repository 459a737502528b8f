// The node page's live status and log tail in a real browser. Starts its own
// `wowlab up --nodes 1` (an in-process node reached over the in-process tunnel); its first
// account is the admin, who may see the in-process node. Started by run.sh (WOWLAB_BIN).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { launchChromium, signUp, startUp, until } from "./support.mjs";

const BIN = process.env.WOWLAB_BIN;
const SHOTS = process.env.STUDIO_SCREENSHOTS;
assert.ok(BIN, "run through tests/studio/run.sh");

let up;
let browser;
let base;
let nodeId; // the in-process node, found by the first test
before(async () => {
  ({ up, base } = await startUp(BIN, "wowlab-live-", 1));
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (up) up.kill("SIGTERM");
});

test("the node page shows the node's live status and streams its log tail", async () => {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signUp(page, base, "admin@example.org");

  const nodes = await until("the in-process node listed", async () => {
    const r = await page.request.get(base + "/api/nodes");
    const list = await r.json();
    return list.length ? list : null;
  });
  nodeId = nodes[0].id;
  await page.goto(base + "/nodes/" + nodeId);
  const live = page.locator("#node-live");
  await live.locator('[data-k="live-state"]').filter({ hasText: /^Online/ }).waitFor({ timeout: 30000 });
  assert.equal(await live.getAttribute("data-online"), "true");
  assert.match(await live.locator('[data-k="live-host"]').textContent(), /\(v\d+\.\d+\.\d+\)/);
  assert.match(await live.locator('[data-k="live-uptime"]').textContent(), /min/);
  // The backlog arrives through the followed stream, with the node's start line in it.
  await page.locator("#node-log").filter({ hasText: "node running" }).waitFor({ timeout: 30000 });
  assert.match(await live.locator('[data-k="log-state"]').textContent(), /Following/);
  assert.deepEqual(errors, []);
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, "node-live.png"), fullPage: true });
  }
  await context.close();
});

test("another user is refused the node's live status and logs", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, base, "someone-else@example.org");
  assert.ok(nodeId, "the first test found the node");
  for (const p of ["live", "logs"]) {
    const r = await page.request.get(base + "/api/nodes/" + nodeId + "/" + p);
    assert.equal(r.status(), 404, p + " of another user's node");
  }
  // The in-process node belongs to the grid itself: everyone may read its page (marked as
  // the grid's own), but its live status and logs stay with admins.
  const r = await page.goto(base + "/nodes/" + nodeId);
  assert.equal(r.status(), 200);
  await page.locator("#system-node").waitFor();
  assert.equal(await page.locator("#node-live").count(), 0);
  await context.close();
});
