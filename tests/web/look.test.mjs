// The web client's screens in a real browser: laptop and phone widths, dark mode, feed rooms as
// live tables with a price chart, the keyboard, accessible names, axe-core on every screen (no
// violation), and the operator's page /ops. Screenshots go to STCHAT_ARTIFACTS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import { launch, user, joinRoom, say, url, artifacts, phone, laptop, assertAccessible, appendFeed, sql } from "./browser.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test("every control has the name a screen reader reads out, and the laptop screen passes axe-core", async () => {
  const page = await user(browser, "ana", { room: "a11y" });
  await say(page, "a message to look at, with a link https://example.org");
  await page.waitForSelector('#view li[data-seq]:has-text("a message to look at")');
  for (const [role, name] of [["textbox", "Room"], ["textbox", "Message"], ["button", "Join"], ["button", "Send"]]) {
    assert.equal(await page.getByRole(role, { name, exact: true }).count(), 1, `one ${role} named "${name}"`);
  }
  assert.equal(await page.getByRole("heading", { level: 1 }).count(), 1, "a page heading");
  assert.equal(await page.getByRole("log", { name: "Messages" }).getAttribute("tabindex"), "0", "the scrolling log is focusable");
  await assertAccessible(page, "the chat at 1280×800");
  const fresh = await (await browser.newContext({ viewport: laptop })).newPage();
  await fresh.goto(url);
  for (const [role, name] of [["textbox", "Name"], ["button", "Connect"]]) {
    assert.equal(await fresh.getByRole(role, { name, exact: true }).count(), 1, `one ${role} named "${name}"`);
  }
  await assertAccessible(fresh, "the sign-in screen");
  const icon = await fresh.request.get(new URL("/favicon.ico", url).href);
  assert.equal(icon.status(), 200, "a favicon");
});

test("on a phone: rooms in a drawer (Rooms button, Esc closes it), 44 px targets, one-line title, nothing sideways", async () => {
  const page = await user(browser, "kim", { room: "phone", viewport: phone });
  await say(page, "from a phone");
  await page.waitForSelector('#view li[data-seq]:has-text("from a phone")');
  const toggle = page.getByRole("button", { name: "Rooms", exact: true });
  assert.ok(await toggle.isVisible(), "a Rooms button");
  // Closed (it slides away after the join): off the screen and out of the tab order.
  await page.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().right <= 0);
  assert.ok(await page.locator("#sidebar").evaluate((s) => s.inert), "the closed drawer is out of the tab order");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the phone`);
  const h1 = await page.locator("h1").boundingBox();
  const lineHeight = await page.locator("h1").evaluate((h) => parseFloat(getComputedStyle(h).lineHeight) || 24);
  assert.ok(h1.height < lineHeight * 1.5, `the title is on one line (${h1.height}px)`);
  for (const [what, sel] of [["Send", "#send"], ["Rooms", "#drawer-toggle"]]) {
    const box = await page.locator(sel).boundingBox();
    assert.ok(box.height >= 44 && box.width >= 44, `${what} is ${box.width}×${box.height} px`);
  }
  await page.screenshot({ path: `${artifacts}/web-phone.png` });
  await assertAccessible(page, "the chat at 390×844");
  await toggle.click();
  await page.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().x >= 0);
  assert.equal(await toggle.getAttribute("aria-expanded"), "true");
  const leave = await page.locator('#room-list button[aria-label="Leave phone"]').boundingBox();
  assert.ok(leave.height >= 44 && leave.width >= 44, `leave is ${leave.width}×${leave.height} px`);
  await page.screenshot({ path: `${artifacts}/web-phone-drawer.png` });
  await assertAccessible(page, "the phone's open drawer");
  await page.keyboard.press("Escape");
  await page.waitForFunction(() => document.getElementById("sidebar").getBoundingClientRect().right <= 0);
  assert.equal(await toggle.getAttribute("aria-expanded"), "false", "Esc closed it");
});

test("dark mode follows the system, and passes axe-core", async () => {
  const page = await user(browser, "dan", { room: "dark", colorScheme: "dark" });
  await say(page, "in the dark");
  await page.waitForSelector('#view li[data-seq]:has-text("in the dark")');
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 150, `a dark background: ${bg}`);
  await page.screenshot({ path: `${artifacts}/web-dark.png` });
  await assertAccessible(page, "the chat in dark mode");
});

test("Alt+↓ and Alt+↑ move between rooms", async () => {
  const page = await user(browser, "kai", { room: "keys-a" });
  await joinRoom(page, "keys-b");
  await page.locator("#log").focus();
  await page.keyboard.press("Alt+ArrowUp");
  await page.waitForSelector('#room-title:text-is("# keys-a")');
  await page.keyboard.press("Alt+ArrowDown");
  await page.waitForSelector('#room-title:text-is("# keys-b")');
  assert.equal(await page.getAttribute('#room-list button[data-room="keys-b"]', "aria-current"), "true");
});

test("feed rooms are live tables: executions with prices to 2 decimals, moves coloured, a chart per symbol", async () => {
  appendFeed("execution", [
    { symbol: "KO", market: "NYSE", price: 59.5, quantity: 86 },
    { symbol: "KO", market: "NYSE", price: 60.25, quantity: 1200 },
    { symbol: "IBM", market: "NYSE", price: 170.1, quantity: 5 },
  ]);
  appendFeed("sport_event", [{ sport: "TENNIS", match_title: "Alcaraz v Sinner", data_event: "ace" }]);
  const page = await user(browser, "fee", { room: null });
  await page.click('#feed-list button[data-room="feed.execution"]');
  await page.waitForSelector("table.feed tbody tr:nth-child(3)");
  assert.deepEqual(await page.locator("table.feed th").allTextContents(), ["Time", "Symbol", "Market", "Price", "Quantity"]);
  const prices = await page.locator("table.feed tbody td:nth-child(4)").allTextContents();
  assert.deepEqual(prices.slice(-3), ["59.50", "▲ 60.25", "170.10"], "prices to 2 decimals, a rise marked");
  assert.equal(await page.locator("table.feed tbody tr:nth-last-child(2) td.up").count(), 1, "the rise coloured");
  assert.equal(await page.locator("table.feed tbody tr:nth-last-child(2) td:nth-child(5)").textContent(), "1,200");
  assert.ok(await page.isDisabled("#text"), "the composer is off in a read-only feed room");
  assert.match(await page.getAttribute("#text", "placeholder"), /read-only/);
  appendFeed("execution", [{ symbol: "KO", market: "NYSE", price: 59, quantity: 10 }]);
  await page.waitForSelector('table.feed tbody tr:last-child td.down:has-text("59.00")');
  assert.equal(await page.locator("#chart figure").count(), 2, `a chart for KO and IBM: ${await page.locator("#chart").innerHTML()}`);
  assert.equal(await page.locator('#chart figure:has-text("KO") polyline').count(), 1, "KO's line");
  assert.equal(await page.getByRole("button", { name: "Executions", exact: true }).count(), 1, "the feed is listed once");
  assert.equal(await page.locator("#room-list button.open").count(), 0, "and not again among chat rooms");
  await page.screenshot({ path: `${artifacts}/web-feed.png` });
  await assertAccessible(page, "the executions feed");
  await page.click('#feed-list button[data-room="feed.sport_event"]');
  await page.waitForSelector('table.feed tbody tr:has-text("Alcaraz v Sinner")');
  assert.deepEqual(await page.locator("table.feed th").allTextContents(), ["Time", "Sport", "Match", "Event"]);
  assert.deepEqual((await page.locator("table.feed tbody tr:last-child td").allTextContents()).slice(1), ["TENNIS", "Alcaraz v Sinner", "ace"]);
});

test("/ops charts the log, the projectors and the processes from samples of the database, and passes axe-core", async () => {
  const headBefore = Number(sql("SELECT coalesce(max(position), 0) FROM event_log"));
  const since = Date.now();
  let data;
  const deadline = Date.now() + 15000;
  do {  // a sample taken after `since` (one every 5 s)
    data = await (await fetch(new URL("/ops/data", url))).json();
    if (Date.parse(data.samples.at(-1)?.at) > since) break;
    await new Promise((r) => setTimeout(r, 200));
  } while (Date.now() < deadline);
  const last = data.samples.at(-1);
  assert.ok(Date.parse(last.at) > since, "a new sample within 15 s");
  const headAfter = Number(sql("SELECT coalesce(max(position), 0) FROM event_log"));
  assert.ok(last.head >= headBefore && last.head <= headAfter, `the sample's head ${last.head} is the log's (${headBefore}..${headAfter})`);
  assert.ok(last.processes.some((p) => p.kind === "chat" && p.info.metrics), "the chat process with its metrics");
  assert.ok(data.samples.length >= 2, "samples accumulate");
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(new URL("/ops", url).href);
  await page.waitForSelector('.card:has-text("Log head")');
  for (const title of ["Log head", "Log appends", "Projector lag", "Chat sessions", "Chat sends", "Undecodable records", "Ingest rate"]) {
    assert.equal(await page.locator(`.card h3:text-is("${title}")`).count(), 1, `a chart of ${title}`);
  }
  assert.ok(Number((await page.locator('.card:has-text("Log head") .value').textContent()).replace(/,/g, "")) >= headBefore, "the head shown");
  assert.equal(await page.locator("#procs tbody tr:has-text('chat')").count(), 1, "the chat process listed");
  await page.screenshot({ path: `${artifacts}/web-ops.png`, fullPage: true });
  await assertAccessible(page, "/ops");
});

test("/ops is served to loopback clients only (it names hosts and pids): another address gets 403", async () => {
  const address = Object.values(os.networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)?.address;
  assert.ok(address, "this machine has a non-loopback IPv4 address to ask from");
  const port = new URL(url).port;
  for (const path of ["/ops", "/ops/data"]) {
    const res = await fetch(`http://${address}:${port}${path}`);
    assert.equal(res.status, 403, `${path} from ${address}`);
    assert.match(await res.text(), /--ops-public/, "says how to open it");
  }
  assert.equal((await fetch(`http://${address}:${port}/`)).status, 200, "the chat page itself is for everyone");
  assert.equal((await fetch(new URL("/ops/data", url))).status, 200, "from 127.0.0.1: served");
});
