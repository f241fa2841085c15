// A reconnect storm: N users (default 1,000; STCHAT_STORM_CLIENTS) of web/stchat-client.js in
// N/100 rooms on one `stchat chat`, messages flowing, the process killed with SIGKILL and started
// again on the same port. Every client resumes (token + since, jittered backoff) and is measured
// from the restart; every acknowledged message is seen once by every member of its room, in order.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import WebSocket from "ws";
import { StchatClient } from "../../web/stchat-client.js";
import { freePort, until, waitHealthy } from "./support.mjs";

const bin = process.env.STCHAT_BIN;
const database = process.env.STCHAT_DB;
const CLIENTS = Number(process.env.STCHAT_STORM_CLIENTS || 1000);
const ROOMS = Math.max(1, Math.floor(CLIENTS / 100));
const SENDERS = 50;
const SENDS_EACH = 10;
let port;
let server;
const clients = [];

async function startServer() {
  server = spawn(bin, ["chat", "--port", String(port), "--database", database, "--log-level", "warn",
                       "--rate-limit", "100"], { stdio: ["ignore", "inherit", "inherit"] });
  return waitHealthy(port, "the chat server");
}

before(async () => {
  assert.ok(bin && database, "STCHAT_BIN and STCHAT_DB are not set: run through tests/web/run_web_tests.sh");
  port = await freePort();
  await startServer();
});

after(() => {
  for (const c of clients) c.close();
  server?.kill("SIGKILL");
});

test(`a reconnect storm of ${CLIENTS} users after a SIGKILL: all resumed, every message once`, async (t) => {
  for (let i = 0; i < CLIENTS; i += 200) {
    const batch = [];
    for (let k = i; k < Math.min(CLIENTS, i + 200); k += 1) {
      const c = new StchatClient({ url: `ws://127.0.0.1:${port}/`, WebSocket, name: `s${k}`, backoff: { min: 200, max: 2000 },
                                   heartbeat: { interval: 5000, timeout: 3000 } });  // 1,000 clients in one process
      c.room = `storm-${k % ROOMS}`;
      c.seen = [];
      c.resumedAt = null;
      c.on("event", (e) => { if (e.kind === "message") c.seen.push(e); });
      clients.push(c);
      batch.push(c.connect().then(() => c.join(c.room)));
    }
    await Promise.all(batch);
  }
  let restartedAt = 0;
  let killed = false;
  for (const c of clients) {
    // Resumed: its rooms joined again after the restart (the joined frame of its room).
    c.on("state", (s) => { if (killed && s === "online") c.online = true; });
    const frame = c.frame.bind(c);
    c.frame = (f) => {
      if (killed && f.type === "joined" && c.resumedAt === null) c.resumedAt = Date.now();
      frame(f);
    };
  }
  const senders = clients.slice(0, SENDERS);
  const acks = [];
  let sent = 0;
  const sendAll = senders.map(async (c, s) => {
    for (let i = 0; i < SENDS_EACH; i += 1) {
      acks.push(await c.send(c.room, `x${s}-${i}`));
      sent += 1;
    }
  });
  await until(() => sent >= (SENDERS * SENDS_EACH) / 2, "half the sends acknowledged", 60000);
  killed = true;
  server.kill("SIGKILL");
  await new Promise((r) => server.once("exit", r));
  restartedAt = await startServer();
  await Promise.all(sendAll);
  await until(() => clients.every((c) => c.resumedAt !== null), "every client resumed", 120000);
  const times = clients.map((c) => c.resumedAt - restartedAt).sort((a, b) => a - b);
  const slowest = times[times.length - 1];
  const at = (q) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  t.diagnostic(`${CLIENTS} clients in ${ROOMS} rooms resumed within ${slowest} ms of the restart ` +
               `(half by ${at(0.5)} ms, 90% by ${at(0.9)} ms, 99% by ${at(0.99)} ms)`);
  if (CLIENTS <= 1000) assert.ok(slowest <= 5000, `every client resumed within 5 s of the restart (slowest: ${slowest} ms)`);

  assert.equal(acks.length, SENDERS * SENDS_EACH, "every send acknowledged");
  const expected = new Map();  // room -> texts acknowledged
  for (const [s, c] of senders.entries()) {
    for (let i = 0; i < SENDS_EACH; i += 1) {
      if (!expected.has(c.room)) expected.set(c.room, new Set());
      expected.get(c.room).add(`x${s}-${i}`);
    }
  }
  await until(() => clients.every((c) => c.seen.length >= (expected.get(c.room)?.size || 0)), "every member seeing its room's messages", 60000);
  for (const c of clients) {
    const want = expected.get(c.room) || new Set();
    const texts = c.seen.map((e) => e.text);
    assert.equal(c.seen.length, want.size, `${c.name}: ${c.seen.length} messages seen, ${want.size} acknowledged in ${c.room}`);
    assert.deepEqual(new Set(texts), want, `${c.name}: each acknowledged message of its room, once`);
    for (let i = 1; i < c.seen.length; i += 1) assert.ok(c.seen[i].seq > c.seen[i - 1].seq, `${c.name}: in seq order`);
  }
  // The restarted process answered resumes that came after their room's first read from its
  // memory of the room's recent events (room_fanout::recent), and the checks above saw every
  // message once and in order all the same. (With 10,000 clients all of them arrive before any
  // read is back: their reads go to Postgres, batched, and none is answered from memory.)
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const fromMemory = Number(metrics.match(/stchat_chat_replays_from_memory_total (\d+)/)?.[1] ?? 0);
  t.diagnostic(`${fromMemory} replays answered from memory`);
  if (CLIENTS <= 1000) assert.ok(fromMemory > 0, `resumes replayed from memory (${fromMemory} of ${CLIENTS})`);
});
