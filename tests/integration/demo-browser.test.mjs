// The demo page in a real browser: Debian's Chromium, headless, driven by
// playwright-core, against the native cluster of deploy/up.sh (three brokers
// behind HAProxy). Two tabs (separate browser contexts, so separate `io`
// cookies) on two different nodes join one room, see each other's presence
// and exchange messages; a screenshot of each goes to build/test-logs/.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { startNativeCluster, REPO_ROOT } from "./native-cluster.mjs";

const CHROMIUM = process.env.SIO_CHROMIUM ?? "/usr/bin/chromium";
const SHOTS = join(REPO_ROOT, "build", "test-logs");

describe("demo page in Chromium through HAProxy", () => {
  let cl, browser;
  const contexts = [];
  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM} (deploy/setup.sh installs it)`);
    const { chromium } = await import("playwright-core");
    cl = await startNativeCluster({ nodes: 3, config: join(REPO_ROOT, "deploy", "apps", "demo.json") });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync"],
    });
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await cl?.stop();
    assert.deepEqual(cl?.sanitizerFindings() ?? [], []);
  });

  /** Opens the page in a fresh context, signs in as `name`, returns {page, node}. */
  async function openTab(name) {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 640 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    await page.goto(`${cl.lb}/`);
    await page.fill("#name", name);
    await page.click("#login button");
    await page.waitForFunction(() => document.body.dataset.node, null, { timeout: 15000 });
    return { page, node: await page.evaluate(() => document.body.dataset.node) };
  }

  test("two tabs on two nodes: presence and messages in one room", async () => {
    const alice = await openTab("alice");
    let bob = await openTab("bob");
    // leastconn puts the second tab on another node; retry a few times if not
    for (let i = 0; i < 5 && bob.node === alice.node; i++) bob = await openTab(`bob${i}`);
    assert.notEqual(bob.node, alice.node, "the two tabs are served by two different broker nodes");
    const bobName = await bob.page.inputValue("#name");

    for (const t of [alice, bob]) {
      await t.page.fill("#room", "lobby");
      await t.page.click("#join button");
      await t.page.waitForSelector('#rooms li[data-room="lobby"]');
    }
    // presence: each sees the other in the room's list, with the node that serves it
    await alice.page.waitForSelector(`#people li:has-text("${bobName}")`, { timeout: 10000 });
    await bob.page.waitForSelector('#people li:has-text("alice")', { timeout: 10000 });
    assert.match(await alice.page.textContent(`#people li:has-text("${bobName}")`), new RegExp(bob.node));

    await alice.page.fill("#text", "hello from alice");
    await alice.page.click("#send button");
    const line = bob.page.locator("#messages li", { hasText: "hello from alice" });
    await line.waitFor({ timeout: 10000 });
    assert.match(await line.textContent(), new RegExp(`via ${alice.node}`), "tagged with the sender's node");

    await bob.page.fill("#text", "hi alice");
    await bob.page.click("#send button");
    await alice.page.locator("#messages li", { hasText: "hi alice" }).waitFor({ timeout: 10000 });

    mkdirSync(SHOTS, { recursive: true });
    await alice.page.screenshot({ path: join(SHOTS, "demo-alice.png") });
    await bob.page.screenshot({ path: join(SHOTS, "demo-bob.png") });
  });
});
