// app.js: st-chat's web client, on the client module (stchat-client.js) that keeps its promises
// across cuts: each event once, in order; unacknowledged sends kept and sent again.
//
// What the page keeps in localStorage (so a reload comes back where it was): the module's token,
// name, rooms with the last seq seen, and outbox ("stchat." keys), and the room that was open
// ("stchat.ui.current"). Private room keys are kept in memory only.
import { StchatClient } from "./stchat-client.js";
import { timeElement, relativeTime, linkify } from "./format.js";
import { FEEDS, isFeed, feedTable, addFeedRows, trimFeedRows, drawPriceChart } from "./feed-view.js";

const $ = (id) => document.getElementById(id);
const ROOM_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const KEEP = 1000;          // events kept per room (older ones come back by scrolling up)
const GROUP_MS = 5 * 60e3;  // consecutive messages of one user within this share one header
const store = window.localStorage;
const pingMs = Number(store.getItem("stchat.ui.ping_ms")) || 1500;  // silence before a liveness ping (tests shorten it)

const client = new StchatClient({
  url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`,
  storage: store,
  heartbeat: { interval: pingMs, timeout: Math.min(1000, pingMs) },
});
window.__stchat = { client, drop: () => client.drop() };  // for tests: a network failure

const rooms = new Map();  // name -> room state (see roomState)
let current = store.getItem("stchat.ui.current");
let me = { user: "", uid: "" };
let online = false;
let atBottom = true;
let pillCount = 0;

function roomState(name) {
  if (!rooms.has(name)) {
    rooms.set(name, {
      name, feed: isFeed(name), events: [], seqs: new Set(), ids: new Set(), first: Infinity, noOlder: false,
      loadingOlder: false, joined: false, unread: 0, markerSeq: null, members: [], memberCount: 0, here: new Set(), head: 0,
      pending: new Map(),   // id -> {id, text, failed: null | {code, message}}
      names: new Map(),     // user name -> Set of uids seen with it (duplicate names get a tag)
    });
  }
  return rooms.get(name);
}

// ---- the sidebar ----
function roomButton(r, title) {
  const li = document.createElement("li");
  const open = document.createElement("button");
  open.type = "button";
  open.className = "open" + (r && r.unread ? " unread" : "");
  open.dataset.room = r ? r.name : title.room;
  if (open.dataset.room === current) open.setAttribute("aria-current", "true");
  const name = document.createElement("span");
  name.className = "name";
  name.textContent = title ? title.title : `# ${r.name}`;
  open.append(name);
  if (r && r.unread) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = r.unread > 99 ? "99+" : String(r.unread);
    open.setAttribute("aria-label", `${r.name}, ${r.unread} unread`);
    open.append(badge);
  }
  open.onclick = () => (r ? select(r.name) : joinRoom(title.room));
  li.append(open);
  if (r) {
    const leave = document.createElement("button");
    leave.type = "button";
    leave.className = "leave";
    leave.textContent = "×";
    leave.title = `Leave ${title ? title.title : r.name}`;
    leave.setAttribute("aria-label", leave.title);
    leave.onclick = () => leaveRoom(r.name);
    li.append(leave);
  }
  return li;
}

function renderSidebar() {
  const chats = [...rooms.values()].filter((r) => !r.feed).sort((a, b) => a.name.localeCompare(b.name));
  $("room-list").replaceChildren(...chats.map((r) => roomButton(r)));
  if (!chats.length) {
    const li = document.createElement("li");
    li.className = "help";
    li.textContent = "No rooms yet: join one above.";
    $("room-list").append(li);
  }
  $("feed-list").replaceChildren(...FEEDS.map((f) => roomButton(rooms.get(f.room), f)));
  const total = [...rooms.values()].reduce((n, r) => n + r.unread, 0);
  document.title = total ? `(${total}) st-chat` : "st-chat";
}

function sidebarOrder() { return [...document.querySelectorAll("#sidebar button.open")].map((b) => b.dataset.room); }

// ---- the open room ----
function tagFor(r, e) {
  const uids = r.names.get(e.user);
  return uids && uids.size > 1 && e.uid ? `#${e.uid.slice(0, 4)}` : "";
}

function messageItem(r, e, prev) {
  const li = document.createElement("li");
  li.dataset.seq = e.seq;
  if (e.kind !== "message") {
    li.className = "note";
    li.append(`${e.user}${tagFor(r, e) ? " " + tagFor(r, e) : ""} ${e.kind === "join" ? "joined" : "left"} · `, timeElement(e.ts));
    return li;
  }
  const grouped = prev && prev.kind === "message" && prev.uid === e.uid && Date.parse(e.ts) - Date.parse(prev.ts) < GROUP_MS;
  if (!grouped) {
    li.className = "first";
    const head = document.createElement("div");
    head.className = "head";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = e.user;
    head.append(who);
    const tag = tagFor(r, e);
    if (tag) {
      const t = document.createElement("span");
      t.className = "tag";
      t.textContent = tag;
      t.title = `user id ${e.uid}`;
      head.append(t);
    }
    head.append(timeElement(e.ts));
    li.append(head);
  } else {
    li.title = new Date(Date.parse(e.ts)).toLocaleString();
  }
  const text = document.createElement("div");
  text.className = "text";
  linkify(text, e.text || "");
  li.append(text);
  return li;
}

function pendingItem(r, p) {
  const li = document.createElement("li");
  li.className = p.failed ? "failed first" : "pending first";
  li.dataset.id = p.id;
  const text = document.createElement("div");
  text.className = "text";
  linkify(text, p.text);
  const state = document.createElement("span");
  state.className = "state";
  state.textContent = p.failed ? `not sent: ${p.failed.message || p.failed.code}` : p.acked ? "sent" : "sending…";
  text.append(state);
  li.append(text);
  if (p.failed) {
    const actions = document.createElement("span");
    actions.className = "actions";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Retry";
    retry.onclick = () => { r.pending.delete(p.id); send(r, p.text); };
    const del = document.createElement("button");
    del.type = "button";
    del.textContent = "Delete";
    del.onclick = () => { r.pending.delete(p.id); renderView(); };
    actions.append(retry, del);
    text.append(actions);
  }
  return li;
}

function markerItem() {
  const li = document.createElement("li");
  li.className = "marker";
  li.textContent = "New messages";
  return li;
}

function renderInfo(r) {
  $("room-title").textContent = r ? (FEEDS.find((f) => f.room === r.name)?.title || `# ${r.name}`) : "No room open";
  $("room-info").textContent = !r ? "" : r.feed ? "live feed, read-only" : !r.joined ? "joining…" : `${r.memberCount} here`;
  $("members").textContent = !r || r.feed ? "—" :
    `${r.memberCount} here${r.members.length ? ": " + r.members.join(", ") : ""}${r.memberCount > r.members.length ? " …" : ""}`;
  $("older").textContent = !r ? "" : r.noOlder ? (r.feed ? "Start of the feed" : "Start of the room")
    : r.loadingOlder ? "Loading older…" : r.events.length ? "Scroll up for older" : "";
  const writable = online && r && !r.feed && r.joined;
  $("text").disabled = $("send").disabled = !writable;
  $("text").placeholder = !r ? "Join a room to write" : r.feed ? "Feed rooms are read-only"
    : !online ? "Offline: you can write once reconnected" : `Message # ${r.name}`;
}

// Draws the open room from scratch (room switch, older history, a new duplicate name).
function renderView({ keepScroll = false } = {}) {
  const r = current ? rooms.get(current) : null;
  const log = $("log");
  const fromBottom = log.scrollHeight - log.scrollTop;
  renderInfo(r);
  const view = $("view");
  $("chart").hidden = !(r && r.name === "feed.execution");
  if (!r) { view.replaceChildren(); return; }
  if (r.feed) {
    const table = feedTable(r.name);
    table._prices = new Map();
    addFeedRows(table, r.events, table._prices);
    view.replaceChildren(table);
    if (r.name === "feed.execution") drawPriceChart($("chart"), r.events);
  } else {
    const ol = document.createElement("ol");
    ol.className = "messages";
    let prev = null;
    for (const e of r.events) {
      if (r.markerSeq !== null && e.seq === r.markerSeq) { ol.append(markerItem()); prev = null; }
      ol.append(messageItem(r, e, prev));
      prev = e;
    }
    for (const p of r.pending.values()) ol.append(pendingItem(r, p));
    view.replaceChildren(ol);
  }
  if (keepScroll) log.scrollTop = log.scrollHeight - fromBottom;
  else {
    const marker = view.querySelector(".marker");
    if (marker) marker.scrollIntoView({ block: "center" });
    else log.scrollTop = log.scrollHeight;
  }
  updateBottom();
}

function updateBottom() {
  const log = $("log");
  atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  if (atBottom) {
    pillCount = 0;
    $("new-pill").hidden = true;
    const r = current && rooms.get(current);
    if (r && r.unread && !document.hidden) { r.unread = 0; renderSidebar(); }
  }
}

function select(name) {
  const before = current && rooms.get(current);
  if (before && before.name !== name && !before.unread) before.markerSeq = null;
  current = name;
  store.setItem("stchat.ui.current", name);
  const r = rooms.get(name);
  if (r && !r.unread) r.markerSeq = null;
  pillCount = 0;
  $("new-pill").hidden = true;
  renderView();
  if (r) { r.unread = 0; }
  renderSidebar();
  closeDrawer();
  maybeLoadOlder();
}

// What every event of a room adds, live or from history: its seq, its message id, its author's
// name and uid. True when a name is now shared by two users (earlier lines gain a tag).
function record(r, e) {
  r.seqs.add(e.seq);
  if (e.id) r.ids.add(e.id);
  if (!e.user || !e.uid) return false;
  const uids = r.names.get(e.user) || new Set();
  if (uids.has(e.uid)) return false;
  uids.add(e.uid);
  r.names.set(e.user, uids);
  return uids.size === 2;
}

// ---- events in, at most one redraw per frame ----
// A frame when the page is shown; a timer too, as hidden tabs get no frames (their unread counts
// and title must still move, and the queue must not grow).
let queue = [];
function enqueue(e) {
  queue.push(e);
  if (queue.length === 1) {
    requestAnimationFrame(flush);
    setTimeout(flush, 250);
  }
}

function flush() {
  if (!queue.length) return;
  const batch = queue;
  queue = [];
  const appended = [];
  let redraw = false, sidebar = false;
  for (const e of batch) {
    const r = roomState(e.room);
    if (r.seqs.has(e.seq)) continue;
    r.first = Math.min(r.first, e.seq);
    if (record(r, e) && r.name === current) redraw = true;
    // A crashed server's share of a user who came back through another: not a leave to show or count.
    if (e.still_here) continue;
    // Who is here: the joined frame's count and names (yourself included), then each later join
    // and leave (per uid: two people of one name count twice, one person's second join once).
    if (e.kind === "join" && e.seq > r.head && e.uid !== me.uid && !r.here.has(e.uid)) {
      r.here.add(e.uid);
      r.memberCount += 1;
      if (!r.members.includes(e.user)) r.members.push(e.user);
    }
    if (e.kind === "leave" && e.seq > r.head && e.uid !== me.uid && r.memberCount > 0) {
      r.here.delete(e.uid);
      r.memberCount -= 1;
      const i = r.members.indexOf(e.user);
      if (i >= 0 && ![...r.names.get(e.user) || []].some((u) => u !== e.uid && r.here.has(u))) r.members.splice(i, 1);
    }
    if (e.id && r.pending.has(e.id)) { r.pending.delete(e.id); if (r.name === current) redraw = true; }
    r.events.push(e);
    if (r.events.length > KEEP && (r.name !== current || atBottom)) {
      const gone = r.events.splice(0, r.events.length - KEEP);
      for (const g of gone) r.seqs.delete(g.seq);
      r.first = r.events[0].seq;
      r.noOlder = false;
    }
    const mine = e.uid && e.uid === me.uid;
    if (e.kind === "message" && !mine) {
      const seen = r.name === current && atBottom && !document.hidden;
      if (!seen) {
        if (r.unread === 0) r.markerSeq = e.seq;  // the line goes before the first unseen one
        r.unread += 1;
        sidebar = true;
        if (r.name === current && !atBottom) pillCount += 1;
      }
    }
    if (r.name === current) appended.push(e);
  }
  if (sidebar) renderSidebar();
  if (!appended.length && !redraw) return;
  if (redraw) return renderView({ keepScroll: !atBottom });
  appendToView(rooms.get(current), appended);
}

function appendToView(r, events) {
  const log = $("log");
  const stick = atBottom;
  if (r.feed) {
    const table = $("view").querySelector("table.feed");
    if (!table) return renderView();
    addFeedRows(table, events, table._prices);
    if (stick) trimFeedRows(table, KEEP);
    if (r.name === "feed.execution") drawPriceChart($("chart"), r.events);
  } else {
    const ol = $("view").querySelector("ol.messages");
    if (!ol) return renderView();
    const firstPending = ol.querySelector("li.pending, li.failed");
    let prev = r.events[r.events.length - events.length - 1] || null;
    for (const e of events) {
      ol.insertBefore(messageItem(r, e, prev), firstPending);
      prev = e;
    }
    if (stick) while (ol.children.length > KEEP + 100) ol.firstChild.remove();
  }
  renderInfo(r);
  if (stick) log.scrollTop = log.scrollHeight;
  if (log.scrollHeight <= log.clientHeight) maybeLoadOlder();
  else if (pillCount) {
    $("new-pill").textContent = `${pillCount} new message${pillCount === 1 ? "" : "s"} ↓`;
    $("new-pill").hidden = false;
  }
}

// ---- older history: loaded when scrolled to the top ----
async function loadOlder(r, before) {
  if (r.loadingOlder || r.noOlder || !r.joined) return;
  r.loadingOlder = true;
  renderInfo(rooms.get(current));
  try {
    const from = before ?? (Number.isFinite(r.first) ? r.first : undefined);
    const { events, first } = await client.history(r.name, { before: from, limit: 50 });
    // The page must join up with what is shown: if the join's replay (or trimming) moved the
    // oldest shown event meanwhile and the page ends before it, it is dropped (scrolling up asks
    // again from the right place).
    const lastOfPage = events.length ? events[events.length - 1].seq : 0;
    if (r.events.length && Number.isFinite(r.first) && lastOfPage + 1 < r.first) return;
    const fresh = events.filter((e) => !r.seqs.has(e.seq));
    for (const e of fresh) {
      record(r, e);
      if (e.id) r.pending.delete(e.id);
    }
    r.events = [...fresh, ...r.events].sort((a, b) => a.seq - b.seq);
    if (r.events.length) r.first = r.events[0].seq;
    if (first <= 1 || !events.length) r.noOlder = true;
  } catch (err) {
    if (err.code !== "disconnected") toast(`Older messages could not be loaded: ${err.message}`);
  } finally {
    r.loadingOlder = false;
  }
  if (r.name === current) renderView({ keepScroll: true });
}

// Near the top, or nothing to scroll yet (a short room): older events are fetched. Not before the
// join's own replay has arrived (it brings the recent ones).
function maybeLoadOlder() {
  const r = current && rooms.get(current);
  if (r && r.events.length && $("log").scrollTop < 80) loadOlder(r);
}

// ---- actions ----
function randomId() {
  const b = new Uint8Array(9);
  crypto.getRandomValues(b);
  return "m-" + [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function send(r, text) {
  const id = randomId();
  r.pending.set(id, { id, text, failed: null });
  client.send(r.name, text, id).catch(() => {});  // outcomes arrive as "ack" / "sendError"
  renderView();
}

async function joinRoom(name, key) {
  $("room-error").textContent = "";
  if (!online) { $("room-error").textContent = "Connect first: type your name at the top."; return; }
  if (rooms.get(name)?.joined) return select(name);
  try {
    const joined = await client.join(name, key ? { key } : {});
    onJoined(joined);
    select(name);
    if (!isFeed(name)) $("room").value = "";
  } catch (err) {
    if (err.code === "disconnected") return;
    $("room-error").textContent = err.code === "forbidden"
      ? `Cannot join ${name}: it is private and the key is missing or wrong.`
      : err.code === "bad_room" ? `“${name}” is not a room name. ${$("room-help").textContent}`
      : `Cannot join ${name}: ${err.message}`;
    if (!rooms.get(name)?.joined) rooms.delete(name);
    renderSidebar();
  }
}

function leaveRoom(name) {
  client.leave(name);
  rooms.delete(name);
  if (current === name) {
    current = sidebarOrder().find((n) => rooms.has(n) && n !== name) || null;
    current ? store.setItem("stchat.ui.current", current) : store.removeItem("stchat.ui.current");
  }
  renderSidebar();
  renderView();
}

function onJoined(f) {
  const r = roomState(f.room);
  const first = !r.joined;
  r.joined = true;
  r.members = [...(f.members || [])];
  r.memberCount = f.member_count ?? r.members.length;
  r.here = new Set();  // uids that joined after this frame
  r.head = f.head ?? 0;  // events up to here are in the frame's count
  renderSidebar();
  if (r.name === current) renderInfo(r);
  // After a reload the module joins with `since` (nothing is replayed): show the recent past.
  const last = client.joinedRooms()[f.room] || 0;
  if (first && !r.events.length && last > 0) loadOlder(r, last + 1);
}

function toast(text) {
  let el = document.querySelector(".toast");
  if (!el) {
    el = document.createElement("p");
    el.className = "toast";
    el.setAttribute("role", "alert");
    $("log").before(el);
  }
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.remove(), 8000);
}

// ---- the connection ----
function showBanner(state) {
  const banner = $("banner");
  if (state === "reconnecting") {
    banner.textContent = navigator.onLine === false ? "You are offline: reconnecting once the network is back…"
      : "Connection lost: reconnecting…";
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

client.on("state", (state) => {
  online = state === "online";
  $("status").textContent = state === "online" ? "online" : state === "connecting" ? "connecting…"
    : state === "reconnecting" ? "reconnecting…" : "offline";
  showBanner(state);
  if (!online) for (const r of rooms.values()) r.joined = false;  // joined again on reconnect
  renderInfo(current && rooms.get(current));
});

client.on("welcome", ({ user, uid }) => {
  me = { user, uid };
  $("connect-form").hidden = true;
  $("me").hidden = false;
  const tag = document.createElement("span");
  tag.className = "tag";
  tag.textContent = `#${uid.slice(0, 4)}`;
  tag.title = `your user id ${uid}`;
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = "Signed in as ";
  $("me-name").replaceChildren(label, `${user} `, tag);
  $("name").value = user;
  renderInfo(current && rooms.get(current));
});

client.on("joined", (f) => onJoined(f));
client.on("event", (e) => enqueue(e));
client.on("ack", (a) => {
  const r = rooms.get(a.room);
  const p = r && r.pending.get(a.id);
  if (!p) return;
  // Stored. Its event shows it (and ends "sending…"), unless it has come already or never will
  // (a resend acked as a duplicate of a message this page saw before a reload).
  if (r.ids.has(a.id) || a.duplicate || a.seq <= (client.joinedRooms()[a.room] || 0)) r.pending.delete(a.id);
  else p.acked = true;
  if (r.name === current) renderView({ keepScroll: !atBottom });
});
client.on("sendError", (err) => {
  const r = roomState(err.room);
  r.pending.set(err.id, { id: err.id, text: err.text, failed: { code: err.code, message: err.message } });
  if (r.name === current) renderView({ keepScroll: !atBottom });
});
client.on("error", (err) => {
  if (err.code === "bad_name") {
    $("name-error").textContent = `${err.message}. Names are 1–32 letters, digits, spaces or punctuation.`;
    client.close();
    return;
  }
  if (err.room && rooms.has(err.room) && !rooms.get(err.room).joined) {
    // A rejoin the server refused (e.g. a private room after a reload: the key is not kept).
    $("room-error").textContent = `Cannot join ${err.room}: ${err.code === "forbidden" ? "it is private: join it again with its key" : err.message}`;
    rooms.delete(err.room);
    renderSidebar();
    if (current === err.room) renderView();
    return;
  }
  toast(err.message || err.code);
});

// ---- wiring ----
$("connect-form").onsubmit = (ev) => {
  ev.preventDefault();
  $("name-error").textContent = "";
  const name = $("name").value.trim();
  if (client.name !== name) { client.token = null; client.save("token", null); client.name = name; }
  client.connect().catch(() => {});
};
$("name").oninput = () => { $("name-error").textContent = ""; };
$("logout").onclick = () => {
  client.close();
  for (const k of Object.keys(store)) if (k.startsWith("stchat.")) store.removeItem(k);
  location.reload();
};
$("join-form").onsubmit = (ev) => {
  ev.preventDefault();
  const name = $("room").value.trim().toLowerCase();
  if (!ROOM_RE.test(name)) {
    $("room-error").textContent = name ? `“${name}” is not a room name. ${$("room-help").textContent}` : "Type a room name.";
    $("room").focus();
    return;
  }
  const key = $("key").value;
  $("key").value = "";
  joinRoom(name, key);
};
$("room").oninput = () => {
  const v = $("room").value.trim().toLowerCase();
  $("room-error").textContent = v && !ROOM_RE.test(v) ? `Not a room name yet. ${$("room-help").textContent}` : "";
};
$("send-form").onsubmit = (ev) => {
  ev.preventDefault();
  const r = current && rooms.get(current);
  const text = $("text").value;
  if (!r || r.feed || !text.trim()) return;
  $("text").value = "";
  send(r, text);
  $("log").scrollTop = $("log").scrollHeight;
};
$("log").addEventListener("scroll", () => { updateBottom(); maybeLoadOlder(); }, { passive: true });
$("new-pill").onclick = () => { const log = $("log"); log.scrollTop = log.scrollHeight; updateBottom(); };
document.addEventListener("visibilitychange", () => { if (!document.hidden) updateBottom(); });

// The phone's drawer.
const phone = window.matchMedia("(max-width: 700px)");
function setDrawer(open) {
  $("sidebar").classList.toggle("open", open);
  $("drawer-toggle").setAttribute("aria-expanded", String(open));
  $("scrim").hidden = !open;
  $("sidebar").inert = phone.matches && !open;
  $("main").inert = phone.matches && open;  // the page behind the open drawer is out of reach
  if (open && phone.matches) $("sidebar").focus();  // not an input: no keyboard popping up on a phone
}
function closeDrawer() { if ($("sidebar").classList.contains("open")) { setDrawer(false); $("drawer-toggle").focus(); } }
$("drawer-toggle").onclick = () => setDrawer(!$("sidebar").classList.contains("open"));
$("scrim").onclick = () => closeDrawer();
phone.addEventListener("change", () => setDrawer(false));
setDrawer(false);

document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape") closeDrawer();
  if (ev.altKey && (ev.key === "ArrowUp" || ev.key === "ArrowDown")) {
    const order = sidebarOrder().filter((n) => rooms.has(n));
    if (!order.length) return;
    ev.preventDefault();
    const i = order.indexOf(current);
    const next = ev.key === "ArrowUp" ? (i <= 0 ? order.length - 1 : i - 1) : (i + 1) % order.length;
    select(order[next]);
  }
});

// Relative times move on.
setInterval(() => {
  for (const t of document.querySelectorAll("#view time[data-rel]")) t.textContent = relativeTime(t.dateTime);
}, 30000);

// ---- start: what the last visit left ----
for (const name of Object.keys(client.joinedRooms())) roomState(name);
for (const s of client.unacknowledged()) roomState(s.room).pending.set(s.id, { id: s.id, text: s.text, failed: null });
if (current && !rooms.has(current)) current = null;
if (!current) current = [...rooms.keys()][0] || null;
$("name").value = client.name || "";
renderSidebar();
renderView();
if (client.token || client.name) client.connect().catch(() => {});
else $("name").focus();
