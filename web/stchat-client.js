// stchat-client.js: a client of the stchat.v1 protocol (docs/protocol.md) that keeps its promises
// across dropped connections and server restarts. An ES module without dependencies: served by
// `stchat chat` at /stchat-client.js for browsers; from Node 18+, pass a WebSocket implementation.
//
//   import { StchatClient } from "./stchat-client.js";
//   const c = new StchatClient({ url: "ws://localhost:8888", name: "eve", storage: localStorage });
//   c.on("event", (e) => show(e));          // each event once, in seq order per room
//   await c.connect();                      // resolves at "welcome" (a stored token keeps the uid)
//   await c.join("lobby");                  // resolves at "joined"; after a reconnect: since = last seq
//   const ack = await c.send("lobby", "hi"); // resolves once stored: {room, id, seq, duplicate}
//   const older = await c.history("lobby", { before: 40, limit: 50 });  // {events, first}
//
// What it keeps in `storage` (getItem/setItem, e.g. localStorage): the token and name, the rooms
// with the last seq seen in each, and the outbox of unacknowledged sends with their ids. After a
// reconnect (backoff with jitter) it says hello with the token, joins every room with `since`,
// and sends the outbox again with the same ids: the server stores each once.
// Errors per send: the promise rejects with an Error whose `code` is the server's (too_large,
// read_only, bad_frame, not_joined …) and the send leaves the outbox; rate_limited is retried
// after the server's retry_after_ms.
// Events emitted: "event" (e), "state" ("connecting" | "online" | "reconnecting" | "closed"),
// "welcome" ({user, uid}), "joined" (the server's frame), "ack" ({room, id, seq, duplicate}),
// "sendError" (Error with code, id, room, text: a send refused for good), "error" (a frame of the
// server's not tied to a send).
//
// A dead connection is noticed without waiting for TCP: after `heartbeat.interval` ms (1.5 s)
// without a frame from the server, the client sends {"type":"ping"}; no frame within
// `heartbeat.timeout` ms (1 s) more means the connection is gone (state "reconnecting", then a new
// one): within 3 s of the last frame heard. A busy connection sends no pings. A connection without "welcome"
// after `welcomeTimeout` (10 s) is given up. Unacknowledged sends older than `maxResendAge`
// (6 days, below the 7 days the server remembers ids) are not resent but reported ("expired"). In a browser, the window's "offline" event drops
// the connection at once and "online" reconnects without waiting for the backoff.

const SUBPROTOCOL = "stchat.v1";

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
}

function randomId() {
  const c = globalThis.crypto;
  if (c && c.randomUUID) return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

export class StchatClient {
  constructor({ url, WebSocket: ws = globalThis.WebSocket, name, storage, prefix = "stchat.",
                backoff = { min: 250, max: 5000 }, heartbeat = { interval: 1500, timeout: 1000 },
                welcomeTimeout = 10000, maxResendAge = 6 * 24 * 3600 * 1000 } = {}) {
    if (!url) throw new Error("StchatClient: url is required");
    if (!ws) throw new Error("StchatClient: no WebSocket implementation (pass { WebSocket })");
    this.url = url;
    this.WebSocketImpl = ws;
    this.storage = storage || new MemoryStorage();
    this.prefix = prefix;
    this.backoff = backoff;
    this.heartbeat = heartbeat;
    this.welcomeTimeout = welcomeTimeout;
    this.maxResendAge = maxResendAge;  // below the server's 7 days of remembered ids
    this.handlers = new Map();
    this.name = name || this.load("name", null);
    this.token = this.load("token", null);
    this.rooms = this.load("rooms", {});        // room -> last seq seen (live events only)
    this.outbox = this.load("outbox", []);      // [{room, id, text}] unacknowledged, in send order
    this.pending = new Map();                   // id -> {resolve, reject}
    this.joins = new Map();                     // room -> [{resolve, reject}]
    this.histories = new Map();                 // room -> [{resolve, reject, events}]
    this.keys = new Map();                      // room -> private key (memory only)
    this.ws = null;
    this.state = "closed";
    this.closedByUser = false;
    this.attempt = 0;
    this.welcomeWaiters = [];
    const w = globalThis.window;
    if (w && typeof w.addEventListener === "function") {
      w.addEventListener("offline", () => { if (this.ws) this.drop(); });
      w.addEventListener("online", () => {
        if (!this.closedByUser && !this.ws && this.state !== "closed") { clearTimeout(this.retryTimer); this.attempt = 0; this.open(); }
      });
    }
  }

  // Gives up on the current connection as a network failure would: "reconnecting" at once, and a
  // new connection after the backoff (the old socket's late close is ignored).
  drop() {
    const ws = this.ws;
    if (!ws) return;
    try { ws.close(4000); } catch { /* already closing */ }
    this.lost(ws);
  }

  // Liveness: a ping after `interval` of silence; any frame is an answer; none within `timeout`
  // more: the connection is dropped. Checked every quarter of the shorter of the two.
  startHeartbeat(ws) {
    clearInterval(this.pingTimer);
    this.pingDue = 0;
    this.lastHeard = Date.now();
    if (!this.heartbeat || !this.heartbeat.interval) return;
    const tick = Math.max(50, Math.min(this.heartbeat.interval, this.heartbeat.timeout) / 4);
    let lastTick = Date.now();
    this.pingTimer = setInterval(() => {
      if (this.ws !== ws) return clearInterval(this.pingTimer);
      const now = Date.now();
      const stalled = now - lastTick > 2 * tick + 100;  // this thread was busy: an answer may be waiting unread
      lastTick = now;
      if (this.pingDue) {
        if (stalled) this.pingDue = now + this.heartbeat.timeout;
        else if (now > this.pingDue) this.drop();
        return;
      }
      if (now - this.lastHeard >= this.heartbeat.interval) {
        this.raw({ type: "ping" });
        this.pingDue = now + this.heartbeat.timeout;
      }
    }, tick);
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, []);
    this.handlers.get(type).push(fn);
    return () => this.handlers.set(type, this.handlers.get(type).filter((f) => f !== fn));
  }

  emit(type, value) { for (const fn of this.handlers.get(type) || []) fn(value); }
  load(key, fallback) {
    try {
      const v = this.storage.getItem(this.prefix + key);
      return v === null ? fallback : JSON.parse(v);
    } catch { return fallback; }
  }
  save(key, value) { try { this.storage.setItem(this.prefix + key, JSON.stringify(value)); } catch { /* full */ } }
  setState(s) { if (this.state !== s) { this.state = s; this.emit("state", s); } }

  connect() {
    this.closedByUser = false;
    const welcomed = new Promise((resolve, reject) => this.welcomeWaiters.push({ resolve, reject }));
    clearTimeout(this.retryTimer);  // one connection at a time: no timer opens a second one
    if (!this.ws) this.open();
    return welcomed;
  }

  close() {
    this.closedByUser = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.helloTimer);
    const ws = this.ws;
    this.ws = null;  // its late close event is ignored: connect() may open a new one at once
    if (ws) ws.close(1000);
    this.settleAll("closed");
    this.setState("closed");
  }

  open() {
    if (this.ws) return;
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new this.WebSocketImpl(this.url, SUBPROTOCOL);
    this.ws = ws;
    // A connection that never gets to welcome (a dead host, a lost SYN) is given up after
    // `welcomeTimeout`, not after the system's TCP timeout.
    clearTimeout(this.helloTimer);
    this.helloTimer = setTimeout(() => { if (this.ws === ws && this.state !== "online") this.drop(); }, this.welcomeTimeout);
    ws.onopen = () => {
      const hello = this.token ? { type: "hello", token: this.token } : { type: "hello", name: this.name || undefined };
      this.raw(hello);
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws) return;  // a connection given up on
      let f;
      try { f = JSON.parse(typeof m.data === "string" ? m.data : String(m.data)); } catch { return; }
      this.frame(f);
    };
    ws.onclose = () => this.lost(ws);
    ws.onerror = () => {};  // onclose follows
  }

  // Rejects what waits on this connection: joins and history pages.
  settleAll(why) {
    const err = () => Object.assign(new Error(why), { code: "disconnected" });
    for (const list of this.joins.values()) for (const j of list) j.reject(err());
    this.joins.clear();
    for (const list of this.histories.values()) for (const h of list) h.reject(err());
    this.histories.clear();
  }

  lost(ws) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearInterval(this.pingTimer);
    clearTimeout(this.helloTimer);
    this.settleAll("disconnected");
    if (this.closedByUser) return this.setState("closed");
    this.setState("reconnecting");
    // The backoff starts again only after a connection that lasted: a server that closes every
    // connection right after welcome (overloaded, 1013) is not hammered.
    if (this.welcomedAt && Date.now() - this.welcomedAt > 10000) this.attempt = 0;
    this.welcomedAt = 0;
    this.attempt += 1;
    const cap = Math.min(this.backoff.max, this.backoff.min * 2 ** Math.min(this.attempt, 10));
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), cap / 2 + Math.random() * cap / 2);  // jitter
  }

  raw(obj) {
    if (this.ws && this.ws.readyState === 1) { this.ws.send(JSON.stringify(obj)); return true; }
    return false;
  }

  frame(f) {
    this.lastHeard = Date.now();  // the connection is alive
    this.pingDue = 0;
    switch (f.type) {
      case "welcome": {
        this.token = f.token; this.name = f.user; this.welcomedAt = Date.now();
        clearTimeout(this.helloTimer);
        this.save("token", f.token); this.save("name", f.user);
        this.uid = f.uid;
        this.setState("online");
        this.startHeartbeat(this.ws);
        this.emit("welcome", { user: f.user, uid: f.uid });
        for (const w of this.welcomeWaiters.splice(0)) w.resolve({ user: f.user, uid: f.uid });
        for (const room of Object.keys(this.rooms)) this.raw(this.joinFrame(room));
        return;
      }
      case "joined": {
        if (!(f.room in this.rooms) && !this.joins.has(f.room)) return;  // left meanwhile
        if (!(f.room in this.rooms)) { this.rooms[f.room] = 0; this.save("rooms", this.rooms); }
        for (const j of this.joins.get(f.room) || []) j.resolve(f);
        this.joins.delete(f.room);
        this.emit("joined", f);
        // What was not acknowledged before the cut goes again, same ids: stored once. Not after
        // maxResendAge: the server forgets ids after 7 days (docs/protocol.md), and a resend then
        // could be stored twice; such a send is reported failed ("expired") instead.
        for (const s of this.outbox.slice()) {
          if (s.room !== f.room) continue;
          if (s.at && Date.now() - s.at > this.maxResendAge) {
            this.failSend(s, Object.assign(new Error("not sent for too long: check the room, then send it again if it is not there"), { code: "expired" }));
          } else {
            this.raw({ type: "send", room: s.room, id: s.id, text: s.text });
          }
        }
        return;
      }
      case "event": {
        if (f.history) { const h = (this.histories.get(f.room) || [])[0]; if (h) h.events.push(f); return; }
        if (!(f.room in this.rooms)) return;  // a room left: its last events may still be on the way
        const last = this.rooms[f.room];
        if (f.seq <= last) return;  // already seen: never twice
        this.rooms[f.room] = f.seq; this.save("rooms", this.rooms);
        this.emit("event", f);
        return;
      }
      case "history_end": {
        const list = this.histories.get(f.room) || [];
        const h = list.shift();
        if (!list.length) this.histories.delete(f.room);
        if (h) h.resolve({ events: h.events, first: f.first, before: f.before });
        return;
      }
      case "ack": {
        this.outbox = this.outbox.filter((s) => s.id !== f.id); this.save("outbox", this.outbox);
        const ack = { room: f.room, id: f.id, seq: f.seq, duplicate: !!f.duplicate };
        const p = this.pending.get(f.id);
        if (p) { this.pending.delete(f.id); p.resolve(ack); }
        this.emit("ack", ack);
        return;
      }
      case "pong": return;
      case "left": return;
      case "error": return this.error(f);
      default: return;
    }
  }

  error(f) {
    const err = Object.assign(new Error(f.message || f.code), { code: f.code, retryAfterMs: f.retry_after_ms, room: f.room });
    const send = this.outbox.find((s) => s.id === f.ref);
    if (send) {
      if (f.code === "rate_limited") {
        setTimeout(() => this.raw({ type: "send", room: send.room, id: send.id, text: send.text }), f.retry_after_ms ?? 1000);
        return;
      }
      if (f.code === "internal") {
        // The database failed: said again after a while, same id (stored once).
        const ws = this.ws;
        setTimeout(() => { if (this.ws === ws && this.outbox.includes(send)) this.raw({ type: "send", room: send.room, id: send.id, text: send.text }); }, 1000 + Math.random() * 1000);
        return;
      }
      return this.failSend(send, err);
    }
    const joining = f.room && f.ref === "join" && (f.room in this.rooms || this.joins.has(f.room));
    if (joining && (f.code === "rate_limited" || f.code === "internal")) {
      // Said again once the server allows it (many rooms rejoined after a reconnect, a database
      // blip); the promise, if any, waits.
      const ws = this.ws;
      const wait = f.code === "rate_limited" ? (f.retry_after_ms ?? 1000) : 1000 + Math.random() * 1000;
      setTimeout(() => { if (this.ws === ws && (f.room in this.rooms || this.joins.has(f.room))) this.raw(this.joinFrame(f.room)); }, wait);
      return;
    }
    if (f.room && (f.ref === "join" || f.ref === "history")) {
      const map = f.ref === "join" ? this.joins : this.histories;
      const list = map.get(f.room) || [];
      const w = list.shift();
      if (!list.length) map.delete(f.room);
      if (f.ref === "join") {
        // Refused for good (forbidden, bad_room …): the room and what waited to be sent there go.
        delete this.rooms[f.room]; this.save("rooms", this.rooms);
        for (const s of this.outbox.filter((o) => o.room === f.room)) {
          this.failSend(s, Object.assign(new Error(`the room refused the join: ${err.message}`), { code: f.code }));
        }
      }
      if (w) return w.reject(err);
    }
    if (f.code === "forbidden" && f.ref === "hello") {
      // An expired token (or one of another server): start again by name, as a new uid.
      this.token = null; this.save("token", null);
      this.raw({ type: "hello", name: this.name || undefined });
      return;
    }
    if (f.ref === "hello") for (const w of this.welcomeWaiters.splice(0)) w.reject(err);  // e.g. bad_name
    this.emit("error", err);
  }

  // A send that will not be stored: out of the outbox, its promise rejected, "sendError" emitted.
  failSend(send, err) {
    this.outbox = this.outbox.filter((s) => s.id !== send.id); this.save("outbox", this.outbox);
    Object.assign(err, { id: send.id, room: send.room, text: send.text });
    const p = this.pending.get(send.id);
    if (p) { this.pending.delete(send.id); p.reject(err); }
    this.emit("sendError", err);
  }

  joinFrame(room) {
    const frame = { type: "join", room };
    if (room in this.rooms) frame.since = this.rooms[room];
    if (this.keys.has(room)) frame.key = this.keys.get(room);
    return frame;
  }

  // A private room's key is kept in memory only (never in storage): after a reload, join again with it.
  join(room, { key } = {}) {
    return new Promise((resolve, reject) => {
      if (!this.joins.has(room)) this.joins.set(room, []);
      this.joins.get(room).push({ resolve, reject });
      if (key) this.keys.set(room, key);
      if (!this.raw(this.joinFrame(room))) {
        this.joins.get(room).pop();
        reject(Object.assign(new Error("not connected"), { code: "disconnected" }));
      }
    });
  }

  // The rooms this client is in (restored from storage after a reload), with the last seq seen.
  joinedRooms() { return { ...this.rooms }; }

  leave(room) {
    delete this.rooms[room]; this.save("rooms", this.rooms);
    this.keys.delete(room);
    this.outbox = this.outbox.filter((s) => s.room !== room); this.save("outbox", this.outbox);
    this.raw({ type: "leave", room });
  }

  // Resolves with the ack once stored, across reconnects; rejects with the server's error code.
  send(room, text, id = randomId()) {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.outbox.push({ room, id, text, at: Date.now() }); this.save("outbox", this.outbox);
      this.raw({ type: "send", room, id, text });  // offline: sent after the next "joined"
    });
  }

  // The unacknowledged sends (e.g. to show them as "sending…" after a reload).
  unacknowledged() { return this.outbox.slice(); }

  history(room, { before, limit = 50 } = {}) {
    return new Promise((resolve, reject) => {
      if (!this.histories.has(room)) this.histories.set(room, []);
      this.histories.get(room).push({ resolve, reject, events: [] });
      const frame = { type: "history", room, limit };
      if (before) frame.before = before;
      if (!this.raw(frame)) {
        this.histories.get(room).pop();
        if (!this.histories.get(room).length) this.histories.delete(room);
        reject(Object.assign(new Error("not connected"), { code: "disconnected" }));
      }
    });
  }
}
