// The web client in a real browser (Debian's Chromium, driven by playwright-core) against a real
// `stchat chat`. run_web_tests.sh starts the server and passes its URL in STCHAT_CHAT_URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const url = process.env.STCHAT_CHAT_URL;
let browser;

before(async () => {
  assert.ok(url, "STCHAT_CHAT_URL is not set: run through tests/web/run_web_tests.sh");
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
});
after(async () => { await browser?.close(); });

async function user(name) {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  await page.fill("#name", name);
  await page.click("#connect");
  await page.waitForSelector(`#status:has-text("online as ${name}")`);
  await page.fill("#room", "lobby");
  await page.click("#joinform button");
  await page.waitForSelector('#rooms button[data-room="lobby"]');
  return page;
}

test("two users in two browsers see each other's messages once, and the sender sees it delivered", async () => {
  const alice = await user("alice");
  const bob = await user("bob");
  await alice.fill("#text", "hello bob");
  await alice.press("#text", "Enter");
  await bob.waitForSelector('#log li:has-text("hello bob")');
  await alice.waitForSelector('#log li[data-seq]:has-text("hello bob")');
  // Pending until the server's ack arrives (the event may come first), then shown once.
  await alice.waitForSelector("#log li.pending", { state: "detached" });
  assert.equal(await alice.locator('#log li:has-text("hello bob")').count(), 1, "acked: shown once");
  assert.equal(await bob.locator('#log li:has-text("hello bob")').count(), 1, "shown once");
  await bob.screenshot({ path: process.env.STCHAT_SCREENSHOT || "/tmp/stchat-web.png" });
});

test("a user who reconnects gets what was said meanwhile, once", async () => {
  const carol = await user("carol");
  const dave = await user("dave");
  // Carol's connection drops; the client reconnects by itself and joins with `since`.
  await carol.evaluate(() => window.__stchat_drop && window.__stchat_drop());
  await dave.fill("#text", "while you were away");
  await dave.press("#text", "Enter");
  await carol.waitForSelector('#log li:has-text("while you were away")', { timeout: 15000 });
  assert.equal(await carol.locator('#log li:has-text("while you were away")').count(), 1);
});
