// The web client in a real browser (Debian's Chromium, driven by playwright-core) against a real
// `stchat chat`: what people do in a chat. run_web_tests.sh starts the server and passes its URL
// in STCHAT_CHAT_URL (and its pid: one test pauses it). Layout, feeds and accessibility: look.test.mjs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { StchatClient } from "../../web/stchat-client.js";
import { launch, user, joinRoom, say, url, artifacts } from "./browser.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const messages = (page) => page.locator("#view li[data-seq]:not(.note)");

test("two users see each other's messages once, the sender sees it sending then delivered, with a time and grouped", async () => {
  const alice = await user(browser, "alice");
  const bob = await user(browser, "bob");
  await say(alice, "hello bob");
  await say(alice, "are you there?");
  await bob.waitForSelector('#view li[data-seq]:has-text("are you there?")');
  await alice.waitForSelector('#view li[data-seq]:has-text("are you there?")');
  await alice.waitForSelector("#view li.pending", { state: "detached" });
  for (const [who, page] of [["alice", alice], ["bob", bob]]) {
    assert.equal(await page.locator('#view li:has-text("hello bob")').count(), 1, `${who} sees it once`);
  }
  // Grouped: one header (name and time) for two messages in a row of one user.
  const first = bob.locator('#view li[data-seq]:has-text("hello bob")');
  const second = bob.locator('#view li[data-seq]:has-text("are you there?")');
  assert.equal(await first.locator(".head .who").textContent(), "alice", "the first message names its author");
  assert.equal(await second.locator(".head").count(), 0, "the second is grouped under the first");
  const time = first.locator("time");
  assert.equal(await time.textContent(), "now", "a relative time");
  assert.match(await time.getAttribute("title"), /\d{4}/, "the full date on hover");
  assert.ok(!Number.isNaN(Date.parse(await time.getAttribute("datetime"))), "a machine-readable time");
});

test("links are links only for http(s), open safely, and long words wrap instead of overflowing", async () => {
  const page = await user(browser, "lina", { room: "links" });
  await say(page, "docs at https://example.org/guide. not javascript:alert(1) nor <a href=x>this</a>");
  await say(page, "x".repeat(500));
  await page.waitForSelector(`#view li[data-seq]:has-text("${"x".repeat(100)}")`);
  const links = page.locator("#view a");
  assert.equal(await links.count(), 1, "one link: the https URL");
  assert.equal(await links.getAttribute("href"), "https://example.org/guide", "the sentence's full stop left out");
  assert.equal(await links.getAttribute("rel"), "noopener noreferrer");
  assert.equal(await links.getAttribute("target"), "_blank");
  const overflow = await page.evaluate(() => { const l = document.getElementById("log"); return l.scrollWidth - l.clientWidth; });
  assert.ok(overflow <= 0, `the message list is ${overflow}px wider than its box`);
});

test("text is rendered as text, never as HTML", async () => {
  const gina = await user(browser, "gina", { room: "markup" });
  const hank = await user(browser, "hank", { room: "markup" });
  await say(gina, '<img src=x onerror="window.__pwned=1"><b>bold</b>');
  await hank.waitForSelector('#view li[data-seq]:has-text("<b>bold</b>")');
  assert.equal(await hank.locator("#view img, #view b").count(), 0, "no element made from the text");
  assert.equal(await hank.evaluate(() => window.__pwned), undefined, "no script ran");
});

test("a user who reconnects gets what was said meanwhile, once", async () => {
  const carol = await user(browser, "carol");
  const dave = await user(browser, "dave");
  await carol.evaluate(() => window.__stchat.drop());
  await say(dave, "while you were away");
  await carol.waitForSelector('#view li:has-text("while you were away")', { timeout: 15000 });
  await carol.waitForSelector("#banner", { state: "hidden" });
  assert.equal(await carol.locator('#view li:has-text("while you were away")').count(), 1, "seen once");
});

test("offline in the browser: a banner within 3 s, the composer disabled, and both back when online", async () => {
  const page = await user(browser, "olga", { room: "offline" });
  const t0 = Date.now();
  await page.context().setOffline(true);
  await page.waitForSelector("#banner:not([hidden])", { timeout: 3000 });
  assert.ok(Date.now() - t0 < 3000, "banner within 3 s");
  assert.match(await page.textContent("#banner"), /offline/i, "says the browser is offline");
  assert.ok(await page.isDisabled("#text"), "nothing can be typed into a dead connection");
  await page.context().setOffline(false);
  await page.waitForSelector("#banner", { state: "hidden", timeout: 10000 });
  await page.waitForSelector("#text:not([disabled])");
  await say(page, "back again");
  await page.waitForSelector('#view li[data-seq]:has-text("back again")');
});

test("a connection that stops answering (server paused) shows the banner once its ping goes unanswered", async () => {
  const pid = Number(process.env.STCHAT_SERVER_PID);
  assert.ok(pid > 0, "STCHAT_SERVER_PID is set by run_web_tests.sh");
  const page = await user(browser, "pia", { room: "paused", init: () => localStorage.setItem("stchat.ui.ping_ms", "500") });
  process.kill(pid, "SIGSTOP");
  let shownAfter;
  try {
    const t0 = Date.now();
    await page.waitForSelector("#banner:not([hidden])", { timeout: 5000 });
    shownAfter = Date.now() - t0;
  } finally {
    process.kill(pid, "SIGCONT");
  }
  assert.ok(shownAfter <= 3000, `banner after ${shownAfter} ms (a ping every 0.5 s, answered within 0.5 s)`);
  await page.waitForSelector("#banner", { state: "hidden", timeout: 15000 });
  await say(page, "still here");
  await page.waitForSelector('#view li[data-seq]:has-text("still here")');
});

test("a bad room name is explained at the room field, joins nothing, and the note goes once fixed", async () => {
  const page = await user(browser, "bea", { room: null });
  await page.fill("#room", "Not A Room!");
  await page.click("#join");
  assert.match(await page.textContent("#room-error"), /not a room name.*lowercase letters, digits/i);
  assert.equal(await page.locator("#room-list button.open").count(), 0, "no room opened");
  assert.equal(await page.textContent("#room-title"), "No room open");
  await page.fill("#room", "fixed-room");
  assert.equal(await page.textContent("#room-error"), "", "the note is cleared once the name is valid");
  await page.click("#join");
  await page.waitForSelector('#room-list button[data-room="fixed-room"]');
});

test("a private room admits the right key only; the error sits at the room field and clears on success", async () => {
  const ida = await user(browser, "ida", { room: null });
  await joinRoom(ida, "secret-garden", "open sesame");
  await ida.waitForSelector('#room-list button[data-room="secret-garden"]');
  const jack = await user(browser, "jack", { room: null });
  await joinRoom(jack, "secret-garden", "guess", { refused: true });
  await jack.waitForSelector("#room-error:has-text('private')");
  assert.equal(await jack.locator('#room-list button[data-room="secret-garden"]').count(), 0, "not joined");
  await joinRoom(jack, "secret-garden", "open sesame");
  await jack.waitForSelector('#room-list button[data-room="secret-garden"]');
  assert.equal(await jack.textContent("#room-error"), "", "the error went with the success");
});

test("a send the server refuses is marked failed with retry and delete, and is not sent again on reconnect", async () => {
  const page = await user(browser, "tom", { room: "limits" });
  await say(page, "y".repeat(4001));
  const failed = page.locator("#view li.failed");
  await failed.waitFor();
  assert.match(await failed.textContent(), /not sent: .*4000/, "says why");
  assert.equal(await failed.locator("button", { hasText: "Retry" }).count(), 1, "a Retry button");
  const outbox = await page.evaluate(() => JSON.parse(localStorage.getItem("stchat.outbox")));
  assert.deepEqual(outbox, [], "out of the outbox");
  await page.evaluate(() => window.__stchat.drop());
  await page.waitForSelector("#banner", { state: "hidden", timeout: 15000 });
  await say(page, "short one");
  await page.waitForSelector('#view li[data-seq]:has-text("short one")');
  assert.equal(await page.locator("#view li[data-seq]").filter({ hasText: "yyyy" }).count(), 0, "the refused text was never stored");
  await failed.locator("button", { hasText: "Delete" }).click();
  assert.equal(await page.locator("#view li.failed").count(), 0, "deleted");
});

test("after a reload: same name, rooms, open room and recent messages, without clicking Connect", async () => {
  const dora = await user(browser, "dora", { room: "reload-a" });
  await joinRoom(dora, "reload-b");
  await say(dora, "said before the reload");
  await dora.waitForSelector('#view li[data-seq]:has-text("said before the reload")');
  const uid = await dora.evaluate(() => window.__stchat.client.uid);
  await dora.reload();
  await dora.waitForSelector("#me:not([hidden])");
  assert.match(await dora.textContent("#me"), /dora/, "same name");
  assert.equal(await dora.evaluate(() => window.__stchat.client.uid), uid, "same user (the token was kept)");
  assert.equal(await dora.locator("#room-list button.open").count(), 2, "both rooms");
  assert.equal(await dora.textContent("#room-title"), "# reload-b", "the room that was open");
  await dora.waitForSelector('#view li[data-seq]:has-text("said before the reload")');
  const eli = await user(browser, "eli", { room: "reload-b" });
  await say(eli, "welcome back");
  await dora.waitForSelector('#view li[data-seq]:has-text("welcome back")');
  assert.equal(await dora.locator('#view li[data-seq]:has-text("said before the reload")').count(), 1, "history once");
  assert.equal(await dora.locator('#view li[data-seq]:has-text("welcome back")').count(), 1, "live once");
});

test("unread counts per room and in the title, and a New messages marker in the room", async () => {
  const fay = await user(browser, "fay", { room: "unread-b" });
  await joinRoom(fay, "unread-a");  // open: unread-a
  const gus = await user(browser, "gus", { room: "unread-b" });
  await say(gus, "one");
  await say(gus, "two");
  await fay.waitForSelector('#room-list button[data-room="unread-b"] .badge:text-is("2")');
  assert.equal(await fay.title(), "(2) st-chat", "the title counts them");
  await fay.click('#room-list button[data-room="unread-b"]');
  assert.equal(await fay.locator('#room-list button[data-room="unread-b"] .badge').count(), 0, "read once opened");
  assert.equal(await fay.title(), "st-chat");
  const order = await fay.locator("#view li").evaluateAll((lis) => lis.map((li) => (li.classList.contains("marker") ? "marker" : li.textContent)));
  const marker = order.indexOf("marker");
  assert.ok(marker >= 0 && /one/.test(order[marker + 1]), `the marker comes right before the first unread: ${order.join(" | ")}`);
});

test("reading back is not interrupted: no jump to the bottom, a pill counts new messages and takes you down", async () => {
  const hal = await user(browser, "hal", { room: "scrolling" });
  const ivy = new StchatClient({ url: url.replace(/^http/, "ws"), WebSocket, name: "ivy", heartbeat: null });
  try {
    await ivy.connect();
    await ivy.join("scrolling");
    for (let i = 0; i < 40; i++) await ivy.send("scrolling", `filler ${i}`);
    await hal.waitForSelector('#view li:has-text("filler 39")');
    const bottom = await hal.evaluate(() => { const l = document.getElementById("log"); return l.scrollHeight - l.scrollTop - l.clientHeight; });
    assert.ok(bottom < 40, `kept at the bottom while at the bottom (${bottom}px above it)`);
    await hal.evaluate(() => { document.getElementById("log").scrollTop = 200; });
    const before = await hal.evaluate(() => document.getElementById("log").scrollTop);
    await ivy.send("scrolling", "news while reading");
    await hal.waitForSelector('#new-pill:not([hidden])');
    assert.match(await hal.textContent("#new-pill"), /1 new message/);
    assert.equal(await hal.evaluate(() => document.getElementById("log").scrollTop), before, "the view did not move");
    await hal.click("#new-pill");
    await hal.waitForSelector("#new-pill", { state: "hidden" });
    assert.ok(await hal.locator('#view li:has-text("news while reading")').isVisible(), "down at the news");
  } finally {
    ivy.close();
  }
});

test("older history loads on scrolling up, each message once, until the start of the room", async () => {
  const ned = new StchatClient({ url: url.replace(/^http/, "ws"), WebSocket, name: "ned", heartbeat: null });
  try {
    await ned.connect();
    await ned.join("archive");
    for (let i = 1; i <= 130; i++) await ned.send("archive", `archived ${i}`);
  } finally {
    ned.close();
  }
  const page = await user(browser, "opal", { room: "archive" });
  await page.waitForSelector('#view li:has-text("archived 130")');
  assert.ok(await messages(page).count() < 130, "a join shows the recent part only");
  for (let i = 0; i < 10 && !(await page.textContent("#older")).includes("Start"); i++) {
    const n = await page.locator("#view li[data-seq]").count();
    await page.evaluate(() => { document.getElementById("log").scrollTop = 0; });
    await page.waitForFunction((n) => document.querySelectorAll("#view li[data-seq]").length > n ||
      document.getElementById("older").textContent.includes("Start"), n);
  }
  assert.match(await page.textContent("#older"), /Start of the room/);
  const texts = await messages(page).allTextContents();
  const archived = texts.map((t) => t.match(/archived (\d+)/)?.[1]).filter(Boolean).map(Number);
  assert.deepEqual(archived, Array.from({ length: 130 }, (_, i) => i + 1), "all 130, once each, in order");
});

test("two users of one name are told apart by a short uid tag", async () => {
  const one = await user(browser, "eve", { room: "twins" });
  const two = await user(browser, "eve", { room: "twins" });
  await say(one, "i am the first eve");
  await say(two, "i am the second eve");
  await one.waitForSelector('#view li:has-text("i am the second eve")');
  for (const page of [one, two]) await page.waitForSelector('#room-info:text-is("2 here")');  // two people, one name
  const tags = await one.locator("#view li[data-seq] .head .tag").allTextContents();
  assert.equal(new Set(tags).size, 2, `two different tags: ${tags}`);
  await one.screenshot({ path: `${artifacts}/web-laptop.png` });
});

test("leaving a room removes it, the others see the user leave, and a reconnect does not rejoin it", async () => {
  const eve = await user(browser, "evelyn", { room: "garden" });
  const frank = await user(browser, "frank", { room: "garden" });
  await frank.waitForSelector('#members:has-text("evelyn")');
  await eve.click('#room-list button[aria-label="Leave garden"]');
  await frank.waitForSelector('#view li:has-text("evelyn left")');
  assert.equal(await eve.locator('#room-list button[data-room="garden"]').count(), 0, "gone from the list");
  await eve.evaluate(() => window.__stchat.drop());
  await eve.waitForSelector("#banner", { state: "hidden", timeout: 15000 });
  await say(frank, "anyone?");
  await frank.waitForSelector("#view li.pending", { state: "detached" });
  assert.equal(await frank.locator('#view li:has-text("evelyn joined")').count(), 1, "evelyn joined once, never again");
});

test("a token the server no longer accepts is replaced by a new identity under the same name", async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    if (!sessionStorage.getItem("seeded")) {
      sessionStorage.setItem("seeded", "1");
      localStorage.setItem("stchat.token", JSON.stringify("6c6f7374.6c6f7374.1000000000.00"));
      localStorage.setItem("stchat.name", JSON.stringify("lena"));
    }
  });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector("#me:not([hidden])", { timeout: 15000 });
  assert.match(await page.textContent("#me"), /lena/);
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("stchat.token")));
  assert.ok(token && token !== "6c6f7374.6c6f7374.1000000000.00", "the new welcome's token is kept");
});
