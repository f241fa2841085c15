// The web client in a real browser (Debian's Chromium, driven by playwright-core) against a real
// `stchat chat`. run_web_tests.sh starts the server and passes its URL in STCHAT_CHAT_URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const url = process.env.STCHAT_CHAT_URL;
// Screenshots are kept for people to look at (scripts/test.sh: build/test-artifacts/).
const artifacts = process.env.STCHAT_ARTIFACTS || "/tmp";
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

async function user(name, room = "lobby", viewport = { width: 1280, height: 800 }) {
  const page = await (await browser.newContext({ viewport })).newPage();
  await page.goto(url);
  await page.fill("#name", name);
  await page.click("#connect");
  await page.waitForSelector(`#status:has-text("online as ${name}")`);
  await page.fill("#room", room);
  await page.click("#joinform button");
  await page.waitForSelector(`#rooms button.open[data-room="${room}"]`);
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
  await bob.screenshot({ path: `${artifacts}/web-laptop.png` });
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

test("leaving a room removes it, the others see the user leave, and a reconnect does not rejoin it", async () => {
  const eve = await user("eve", "garden");
  const frank = await user("frank", "garden");
  await frank.waitForSelector('#members:has-text("eve")');
  await eve.click('#rooms button[aria-label="leave garden"]');
  await frank.waitForSelector('#log li:has-text("eve left")');
  await eve.waitForSelector('#rooms button.open[data-room="garden"]', { state: "detached" });
  await eve.evaluate(() => window.__stchat_drop());
  await eve.waitForSelector('#status:has-text("online as eve")', { timeout: 15000 });
  // Frank says something after eve is back online: by the time he sees it, a rejoin would show.
  await frank.fill("#text", "anyone?");
  await frank.press("#text", "Enter");
  await frank.waitForSelector('#log li.pending', { state: "detached" });
  assert.equal(await frank.locator('#log li:has-text("eve joined")').count(), 1, "eve joined once, never again");
  assert.equal(await eve.locator('#rooms button.open[data-room="garden"]').count(), 0);
});

test("text is rendered as text, never as HTML", async () => {
  const gina = await user("gina", "markup");
  const hank = await user("hank", "markup");
  const evil = '<img src=x onerror="window.__pwned=1"><b>bold</b>';
  await gina.fill("#text", evil);
  await gina.press("#text", "Enter");
  await hank.waitForSelector('#log li[data-seq]:has-text("<b>bold</b>")');
  assert.equal(await hank.locator("#log img, #log b").count(), 0, "no element made from the text");
  assert.equal(await hank.evaluate(() => window.__pwned), undefined);
});

test("a private room admits the right key only", async () => {
  const ida = await user("ida", "lobby");
  await ida.fill("#room", "secret-garden");
  await ida.fill("#key", "open sesame");
  await ida.click("#joinform button");
  await ida.waitForSelector('#rooms button.open[data-room="secret-garden"]');
  const jack = await user("jack", "lobby");
  await jack.fill("#room", "secret-garden");
  await jack.fill("#key", "guess");
  await jack.click("#joinform button");
  await jack.waitForSelector('#status:has-text("forbidden")');
  assert.equal(await jack.locator('#rooms button.open[data-room="secret-garden"]').count(), 0);
});

test("at phone width nothing overflows sideways and the message box is usable", async () => {
  const kim = await user("kim", "lobby", { width: 390, height: 844 });
  await kim.fill("#text", "from a phone");
  await kim.press("#text", "Enter");
  await kim.waitForSelector('#log li[data-seq]:has-text("from a phone")');
  const overflow = await kim.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
  const box = await kim.locator("#text").boundingBox();
  assert.ok(box && box.width >= 150 && box.x + box.width <= 390, `message box ${JSON.stringify(box)}`);
  await kim.screenshot({ path: `${artifacts}/web-phone.png` });
});

test("a token the server no longer accepts (expired, or from before) is replaced by a new identity", async () => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(url);
  await page.evaluate(() => sessionStorage.setItem("token", "6c6f7374.6c6f7374.1000000000.00"));
  await page.reload();
  await page.fill("#name", "lena");
  await page.click("#connect");
  await page.waitForSelector('#status:has-text("online as lena")', { timeout: 15000 });
  const token = await page.evaluate(() => sessionStorage.getItem("token"));
  assert.notEqual(token, "6c6f7374.6c6f7374.1000000000.00", "the new welcome's token is kept");
});
