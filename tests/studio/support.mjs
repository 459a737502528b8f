// Helpers shared by the studio suites: polling, the Chromium they drive, signing up.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns something truthy (returned); throws with the last value. */
export async function until(what, fn, timeoutMs = 60000, everyMs = 250) {
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

/** Debian's Chromium (or $CHROMIUM), headless, with a fresh temporary profile. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      // No --user-data-dir: launch() always gives chromium a fresh temporary profile.
    ],
  });
}

/** Signs `page` up as `email` on the studio at `base`; resolves on the dashboard. */
export async function signUp(page, base, email) {
  await page.goto(base + "/signup");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("correct horse battery");
  await Promise.all([page.waitForURL(base + "/"), page.getByRole("button", { name: "Sign up" }).click()]);
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts a private `wowlab up` with one in-process node (`slots` chunk slots) on a free port
 * and a fresh data dir; resolves once it is ready, with the child and its base URL. */
export async function startUp(bin, prefix, slots = 2) {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const port = await freePort();
  const base = "http://127.0.0.1:" + port;
  const up = spawn(bin, ["up", "--nodes", "1", "--slots", String(slots), "--addr", "127.0.0.1:" + port,
    "--data-dir", path.join(dir, "up")], { env: { ...process.env, RUST_LOG: "info" }, stdio: "ignore" });
  await until("wowlab up ready", async () => (await fetch(base + "/readyz")).ok);
  return { up, base, dir };
}
