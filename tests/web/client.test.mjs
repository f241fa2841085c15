// The client module (web/stchat-client.js) from Node, against a real `stchat chat` this test
// starts itself, cuts and SIGKILLs: every send acknowledged once, every message seen once and in
// order by the other member, refused sends reported with their code, history paged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import WebSocket from "ws";
import { StchatClient } from "../../web/stchat-client.js";
import { freePort, until, waitHealthy } from "./support.mjs";

const bin = process.env.STCHAT_BIN;
const database = process.env.STCHAT_DB;
let port;
let server;

function spawnServer() {
  server = spawn(bin, ["chat", "--port", String(port), "--database", database, "--log-level", "warn"],
                 { stdio: ["ignore", "inherit", "inherit"] });
  return waitHealthy(port, "the chat server");
}

before(async () => {
  assert.ok(bin && database, "STCHAT_BIN and STCHAT_DB are not set: run through tests/web/run_web_tests.sh");
  port = await freePort();
  await spawnServer();
});
const clients = [];
after(() => {
  for (const c of clients) c.close();  // no reconnect timer or socket keeps node running
  server?.kill("SIGKILL");
});

function client(name, options = {}) {
  const c = new StchatClient({ url: `ws://127.0.0.1:${port}/`, WebSocket, name, backoff: { min: 50, max: 400 }, ...options });
  clients.push(c);
  return c;
}

test("300 sends through connection cuts and a server SIGKILL: each acked once, each seen once in order", async () => {
  const bob = client("bob");
  const seen = [];
  bob.on("event", (e) => { if (e.kind === "message") seen.push(e); });
  await bob.connect();
  await bob.join("cut");
  const alice = client("alice");
  let aliceCuts = 0;
  let bobCuts = 0;
  alice.on("state", (s) => { if (s === "reconnecting") aliceCuts += 1; });
  bob.on("state", (s) => { if (s === "reconnecting") bobCuts += 1; });
  await alice.connect();
  await alice.join("cut");

  const acks = [];
  for (let chunk = 0; chunk < 30; chunk += 1) {
    const sends = [];
    for (let i = 0; i < 10; i += 1) sends.push(alice.send("cut", `m${chunk * 10 + i}`));
    if (chunk % 4 === 1) alice.ws?.terminate();          // the connection cut under in-flight sends
    if (chunk === 15) {                                 // the server killed with sends in flight
      server.kill("SIGKILL");
      await new Promise((r) => server.once("exit", r));
      await spawnServer();
    }
    acks.push(...(await Promise.all(sends)));
  }
  assert.ok(aliceCuts >= 8, `alice lost her connection 7 times and the server once (${aliceCuts} reconnects)`);
  assert.ok(bobCuts >= 1, "bob lost his with the server");
  assert.equal(acks.length, 300, "every send acknowledged");
  assert.equal(new Set(acks.map((a) => a.seq)).size, 300, "300 different seqs: nothing stored twice");
  assert.equal(alice.unacknowledged().length, 0, "the outbox is empty");

  await until(() => seen.length >= 300, "bob seeing 300 messages");
  assert.equal(seen.length, 300, `bob saw ${seen.length} message events`);
  const texts = seen.map((e) => e.text);
  assert.equal(new Set(texts).size, 300, "each message once");
  for (let i = 1; i < seen.length; i += 1) assert.ok(seen[i].seq > seen[i - 1].seq, "in seq order");
  for (let i = 0; i < 300; i += 1) assert.ok(texts.includes(`m${i}`), `m${i} seen`);
  alice.close();
  bob.close();
});

test("refused sends reject with the server's code and leave the outbox; history pages back", async () => {
  const c = client("carol");
  await c.connect();
  await c.join("refusals");
  for (let i = 0; i < 12; i += 1) await c.send("refusals", `r${i}`);
  await assert.rejects(c.send("refusals", "x".repeat(5000)), (e) => e.code === "too_large");
  await c.join("feed.execution");
  await assert.rejects(c.send("feed.execution", "hi"), (e) => e.code === "read_only");
  assert.equal(c.unacknowledged().length, 0, "refused sends are not resent");
  const page = await c.history("refusals", { before: 11, limit: 5 });
  assert.deepEqual(page.events.map((e) => e.seq), [6, 7, 8, 9, 10]);
  assert.equal(page.first, 6);
  c.close();
});

test("a token restores the same user on a new client, and rooms come back with since", async () => {
  const storage = { m: new Map(), getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }, setItem(k, v) { this.m.set(k, v); } };
  const first = client("dana", { storage });
  const firstSeen = [];
  first.on("event", (e) => firstSeen.push(e));
  const who = await first.connect();
  await first.join("resume");
  await first.send("resume", "before reload");
  await until(() => firstSeen.some((e) => e.text === "before reload"), "the first client seeing its message");
  first.close();
  // A reload: a new client on the same storage, no name given.
  const again = client(undefined, { storage });
  const seen = [];
  again.on("event", (e) => seen.push(e));
  const who2 = await again.connect();
  assert.equal(who2.uid, who.uid, "the same uid from the stored token");
  await until(() => again.state === "online", "online");
  const other = client("erin");
  await other.connect();
  await other.join("resume");
  await other.send("resume", "after reload");
  await until(() => seen.some((e) => e.text === "after reload"), "the rejoined room's new message");
  assert.ok(!seen.some((e) => e.text === "before reload"), "what was seen before the reload is not shown again");
  again.close();
  other.close();
});

test("after a reload, a send older than the server's id memory is reported expired, not sent again", async () => {
  const storage = { m: new Map(), getItem(k) { return this.m.has(k) ? this.m.get(k) : null; }, setItem(k, v) { this.m.set(k, v); } };
  const first = client("fred", { storage });
  await first.connect();
  await first.join("old-sends");
  first.close();
  // What a browser closed 7 days ago with two sends unacknowledged would find in its storage.
  const week = 7 * 24 * 3600 * 1000;
  storage.setItem("stchat.outbox", JSON.stringify([
    { room: "old-sends", id: "old-1", text: "from last week", at: Date.now() - week },
    { room: "old-sends", id: "new-1", text: "from a minute ago", at: Date.now() - 60000 },
  ]));
  const again = client(undefined, { storage });
  const failed = [];
  const acked = [];
  again.on("sendError", (e) => failed.push(e));
  again.on("ack", (a) => acked.push(a));
  await again.connect();
  await until(() => failed.length + acked.length === 2, "both outbox entries settled");
  assert.deepEqual(failed.map((e) => [e.id, e.code]), [["old-1", "expired"]], "the old one reported, not sent");
  assert.deepEqual(acked.map((a) => a.id), ["new-1"], "the recent one sent once");
  const page = await again.history("old-sends", {});
  assert.deepEqual(page.events.filter((e) => e.kind === "message").map((e) => e.text), ["from a minute ago"], "only it is stored");
  assert.equal(again.unacknowledged().length, 0, "the outbox is empty");
  again.close();
});

test("a room left stays left while its last events are still on the way", async () => {
  const watcher = client("gwen");
  await watcher.connect();
  await watcher.join("leaving");
  const talker = client("hugo");
  await talker.connect();
  await talker.join("leaving");
  const sends = [];
  for (let i = 0; i < 20; i += 1) sends.push(talker.send("leaving", `late ${i}`));
  watcher.leave("leaving");  // events of the room are in flight to the watcher meanwhile
  await Promise.all(sends);
  const marker = await talker.send("leaving", "after the leave");
  await watcher.join("elsewhere");  // a round trip after every late event
  assert.ok(marker.seq > 0);
  assert.equal("leaving" in watcher.joinedRooms(), false, "the room did not come back");
  watcher.close();
  talker.close();
});
