// Shared by the browser tests: Debian's Chromium (playwright-core, never a downloaded browser),
// a signed-in user, axe-core's check of a screen, events appended to the log with SQL.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

export const url = process.env.STCHAT_CHAT_URL;
// Screenshots are kept for people to look at (scripts/test.sh: build/test-artifacts/).
export const artifacts = process.env.STCHAT_ARTIFACTS || "/tmp";
export const laptop = { width: 1280, height: 800 };
export const phone = { width: 390, height: 844 };
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

export async function launch() {
  assert.ok(url, "STCHAT_CHAT_URL is not set: run through tests/web/run_web_tests.sh");
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

// A page signed in as `name` (Enter in the name field connects), in `room` when given.
export async function user(browser, name, { room = "lobby", viewport = laptop, colorScheme = "light", init } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  page.on("pageerror", (e) => { throw new Error(`page error in ${name}'s page: ${e.message}`); });
  await page.goto(url);
  await page.fill("#name", name);
  await page.press("#name", "Enter");
  await page.waitForSelector("#me:not([hidden])");
  if (room) await joinRoom(page, room);
  return page;
}

// Joins `room` through the form (opening the phone's drawer first); waits until it is open unless
// a refusal is expected.
export async function joinRoom(page, room, key, { refused = false } = {}) {
  if (await page.locator("#drawer-toggle").isVisible() && await page.getAttribute("#drawer-toggle", "aria-expanded") === "false") {
    await page.click("#drawer-toggle");
  }
  await page.fill("#room", room);
  if (key !== undefined) {
    if (!(await page.locator("details.key").evaluate((d) => d.open))) await page.click("details.key summary");
    await page.fill("#key", key);
  }
  await page.click("#join");
  if (!refused) await page.waitForSelector(`#room-title:text-is("# ${room}")`);
}

export async function say(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

// axe-core on the page as it is: asserts no violation, naming each that is found.
export async function assertAccessible(page, screen) {
  await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`));
  assert.deepEqual(violations, [], `axe-core on ${screen}: ${violations.join("; ")}`);
}

// Appends feed events straight to the log (what the ingest does), e.g.
// appendFeed("execution", [{symbol: "KO", market: "NYSE", price: 59.5, quantity: 86}]).
let fed = 0;
export function appendFeed(kind, datas) {
  const lit = (xs) => `ARRAY[${xs.map((x) => `'${String(x).replace(/'/g, "''")}'`).join(",")}]::text[]`;
  const n = datas.length;
  const ids = datas.map(() => `web-test-${process.pid}-${++fed}`);
  const sql = `SELECT count(*) FROM append_batch(${lit(Array(n).fill("web-test"))}, ${lit(ids)}, ` +
    `${lit(Array(n).fill(`feed.${kind}`))}, ${lit(Array(n).fill(kind))}, ARRAY[${Array(n).fill("''::bytea").join(",")}], ` +
    `${lit(datas.map((d) => JSON.stringify(d)))}, ${lit(Array(n).fill("{}"))}, ARRAY[${Array(n).fill("NULL::bigint").join(",")}])`;
  const out = execFileSync("psql", [process.env.STCHAT_DB, "-Atc", sql]).toString().trim();
  assert.equal(out, String(n), `appended ${n} ${kind} events`);
}

export function sql(query) {
  return execFileSync("psql", [process.env.STCHAT_DB, "-Atc", query]).toString().trim();
}
