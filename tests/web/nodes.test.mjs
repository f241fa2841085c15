// Three `stchat chat` processes behind a real HAProxy (the configuration scripts/run.sh uses with
// STCHAT_CHAT_NODES=3, from scripts/lib.sh), 1,000 clients of web/stchat-client.js in 10 rooms,
// messages flowing; one node killed with SIGKILL mid-run. Every client is back through HAProxy
// within 5 s, every send is acknowledged once, and every member sees each message of its room
// once, in seq order.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { StchatClient } from "../../web/stchat-client.js";
import { freePort, healthy, until, waitHealthy } from "./support.mjs";

const bin = process.env.STCHAT_BIN;
const database = process.env.STCHAT_DB;
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CLIENTS = 1000;
const ROOMS = 10;
const SENDERS_PER_ROOM = 5;
const SENDS_EACH = 20;

const nodes = [];   // {port, proc}
let front;           // HAProxy's port
let haproxy;
const clients = [];

before(async () => {
  assert.ok(bin && database, "STCHAT_BIN and STCHAT_DB are not set: run through tests/web/run_web_tests.sh");
  for (let i = 0; i < 3; i += 1) {
    const port = await freePort();
    const proc = spawn(bin, ["chat", "--port", String(port), "--database", database, "--log-level", "warn"],
                       { stdio: ["ignore", "inherit", "inherit"] });
    nodes.push({ port, proc });
  }
  for (const n of nodes) await waitHealthy(n.port, `chat node on ${n.port}`);
  front = await freePort();
  const cfg = execFileSync("bash", ["-c", `source "${root}/scripts/lib.sh" && stchat_haproxy_config "$@"`, "cfg",
                                    String(front), ...nodes.map((n) => `127.0.0.1:${n.port}`)]);
  const dir = mkdtempSync(join(tmpdir(), "stchat-haproxy-"));
  writeFileSync(join(dir, "haproxy.cfg"), cfg);
  haproxy = spawn("haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "inherit", "inherit"] });
  await waitHealthy(front, "HAProxy");
});

after(() => {
  for (const c of clients) c.close();
  for (const n of nodes) n.proc.kill("SIGKILL");
  haproxy?.kill("SIGKILL");
});

test("1,000 clients through HAProxy, a node killed mid-run: all back within 5 s, every message once", async (t) => {
  // Connect and join, 100 at a time.
  for (let i = 0; i < CLIENTS; i += 100) {
    const batch = [];
    for (let k = i; k < i + 100; k += 1) {
      const c = new StchatClient({ url: `ws://127.0.0.1:${front}/`, WebSocket, name: `u${k}`, backoff: { min: 100, max: 1000 },
                                   heartbeat: { interval: 5000, timeout: 3000 } });  // 1,000 clients in one process
      c.room = `r${k % ROOMS}`;
      c.seen = [];      // message events of its room
      c.backAt = null;  // when it was online again after the kill
      c.cut = false;
      c.on("event", (e) => { if (e.kind === "message") c.seen.push(e); });
      clients.push(c);
      batch.push(c.connect().then(() => c.join(c.room)));
    }
    await Promise.all(batch);
  }
  let killedAt = 0;
  for (const c of clients) {
    c.on("state", (s) => {
      if (!killedAt) return;
      if (s === "reconnecting") c.cut = true;
      if (s === "online" && c.cut && c.backAt === null) c.backAt = Date.now();
    });
  }

  // The senders: the first SENDERS_PER_ROOM clients of each room, one send at a time each.
  const senders = clients.slice(0, ROOMS * SENDERS_PER_ROOM);
  const acks = [];
  let sent = 0;
  const sendAll = senders.map(async (c, s) => {
    for (let i = 0; i < SENDS_EACH; i += 1) {
      acks.push(await c.send(c.room, `s${s}-m${i}`));
      sent += 1;
    }
  });
  await until(() => sent >= (senders.length * SENDS_EACH) / 2, "half the sends acknowledged", 30000);
  killedAt = Date.now();
  nodes[0].proc.kill("SIGKILL");
  await Promise.all(sendAll);

  const cut = clients.filter((c) => c.cut);
  assert.ok(cut.length >= CLIENTS / 6, `the killed node had its share of the clients (${cut.length} cut)`);
  await until(() => cut.every((c) => c.backAt !== null), "every cut client online again", 20000);
  const slowest = Math.max(...cut.map((c) => c.backAt - killedAt));
  assert.ok(slowest <= 5000, `every client back through HAProxy within 5 s of the kill (slowest: ${slowest} ms)`);
  t.diagnostic(`${cut.length} clients cut by the kill, all back within ${slowest} ms`);

  const total = senders.length * SENDS_EACH;
  assert.equal(acks.length, total, "every send acknowledged");
  const perRoom = new Map();
  for (const a of acks) perRoom.set(a.room, (perRoom.get(a.room) || new Set()).add(a.seq));
  for (const [room, seqs] of perRoom) {
    assert.equal(seqs.size, SENDERS_PER_ROOM * SENDS_EACH, `${room}: every ack a different seq (nothing stored twice)`);
  }
  const expected = SENDERS_PER_ROOM * SENDS_EACH;
  await until(() => clients.every((c) => c.seen.length >= expected), "every member seeing its room's messages", 30000);
  for (const c of clients) {
    const texts = c.seen.map((e) => e.text);
    assert.equal(c.seen.length, expected, `${c.name} in ${c.room} saw ${c.seen.length} messages, ${expected} sent`);
    assert.equal(new Set(texts).size, expected, `${c.name}: each message once`);
    for (let i = 1; i < c.seen.length; i += 1) assert.ok(c.seen[i].seq > c.seen[i - 1].seq, `${c.name}: in seq order`);
  }
  // The two nodes left are still healthy behind HAProxy.
  assert.ok(await healthy(nodes[1].port) && await healthy(nodes[2].port), "the other nodes are healthy");
  // Both ways into a room were taken on each node (its own commits straight from its writer, the
  // others' through its relay), and the checks above saw every message once and in order.
  for (const n of [nodes[1], nodes[2]]) {
    const text = await (await fetch(`http://127.0.0.1:${n.port}/metrics`)).text();
    const count = (path) => Number(text.match(new RegExp(`stchat_chat_fanned_out_total\\{path="${path}"\\} (\\d+)`))?.[1] ?? 0);
    assert.ok(count("writer") > 0, `node ${n.port} fanned out its own commits straight from its writer (${count("writer")})`);
    assert.ok(count("relay") > 0, `node ${n.port} fanned out other nodes' events from its relay (${count("relay")})`);
    t.diagnostic(`node ${n.port}: ${count("writer")} events from its writer, ${count("relay")} from its relay`);
  }
});
