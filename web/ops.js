// ops.js: the operator's page. Reads GET /ops/data (the samples a chat process keeps, see
// chat/src/ops_sampler.h) every 5 s and draws each quantity over the last 10 minutes.
import { sparkline } from "./spark.js";
import { count } from "./format.js";

const $ = (id) => document.getElementById(id);
const metric = (p, name) => p?.info?.metrics?.[name];

// Per-second rate of a counter between consecutive samples; null where either side is missing.
function rate(samples, value) {
  return samples.map((s, i) => {
    if (i === 0) return null;
    const a = value(samples[i - 1]), b = value(s);
    const dt = (Date.parse(s.at) - Date.parse(samples[i - 1].at)) / 1000;
    return a == null || b == null || dt <= 0 || b < a ? null : (b - a) / dt;
  });
}

// Per-second rate of a process's counter, timed by its heartbeats (seen_at), not by the samples:
// both tick every 5 s out of step, so one sample may see a heartbeat again (null: no new figure).
function procRate(samples, id, name) {
  return samples.map((s, i) => {
    if (i === 0) return null;
    const a = proc(samples[i - 1], id), b = proc(s, id);
    const va = metric(a, name), vb = metric(b, name);
    if (va == null || vb == null) return null;
    const dt = (Date.parse(b.seen_at) - Date.parse(a.seen_at)) / 1000;
    return dt <= 0 || vb < va ? null : (vb - va) / dt;
  });
}

function processes(samples, kind) {
  const ids = new Set();
  for (const s of samples) for (const p of s.processes || []) if (p.kind === kind) ids.add(p.id);
  return [...ids].sort();
}
const proc = (s, id) => (s.processes || []).find((p) => p.id === id);

// Every chart of the page: a title and its series ({name, values, unit}).
function charts(samples) {
  const projections = [...new Set(samples.flatMap((s) => Object.keys(s.projections || {})))].sort();
  const ingests = processes(samples, "ingest"), chats = processes(samples, "chat"), outboxes = processes(samples, "outbox");
  return [
    { title: "Log head", series: [{ name: "events in the log", values: samples.map((s) => s.head) }] },
    { title: "Log appends", series: [{ name: "events/s", values: rate(samples, (s) => s.head), unit: "/s" }] },
    { title: "Ingest rate", empty: "no ingest running",
      series: ingests.map((id) => ({ name: `${id} msgs/s`, unit: "/s",
        values: procRate(samples, id, "stchat_ingest_messages_ingested_total") })) },
    { title: "Ingest consumer lag", empty: "no ingest running",
      series: ingests.map((id) => ({ name: `${id} messages waiting in JetStream`,
        values: samples.map((s) => metric(proc(s, id), "stchat_ingest_consumer_pending") ?? null) })) },
    { title: "Projector lag", empty: "no projection has run yet",
      series: projections.map((name) => ({ name: `${name}: events behind the head`,
        values: samples.map((s) => (s.projections?.[name] == null ? null : Math.max(0, s.head - s.projections[name]))) })) },
    { title: "Chat sessions", empty: "no chat process",
      series: chats.map((id) => ({ name: id, values: samples.map((s) => proc(s, id)?.info?.sessions ?? null) })) },
    { title: "Chat sends", empty: "no chat process",
      series: chats.map((id) => ({ name: `${id} messages/s`, unit: "/s",
        values: procRate(samples, id, "stchat_chat_messages_stored_total") })) },
    ...(outboxes.length ? [{ title: "Outbox lag", series: outboxes.map((id) => ({ name: `${id} events behind`,
        values: samples.map((s) => metric(proc(s, id), "stchat_outbox_lag_events") ?? null) })) }] : []),
    { title: "Undecodable records", series: [{ name: "kept as undecodable", values: samples.map((s) => s.undecodable) }] },
  ];
}

function shown(v, unit) {
  if (v == null) return "–";
  return unit === "/s" ? `${count(Math.round(v * 10) / 10)}/s` : count(v);
}

function card(c, minutes) {
  const el = document.createElement("article");
  el.className = "card";
  el.setAttribute("aria-label", c.title);
  const h = document.createElement("h3");
  h.textContent = c.title;
  el.append(h);
  if (!c.series.length) {
    const p = document.createElement("p");
    p.className = "none";
    p.textContent = c.empty || "no data";
    el.append(p);
  }
  for (const s of c.series) {
    const row = document.createElement("div");
    row.className = "series";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = s.name;
    name.title = s.name;
    const last = [...s.values].reverse().find((v) => v != null);
    const value = document.createElement("span");
    value.className = "value";
    value.textContent = shown(last, s.unit);
    row.append(name, value, sparkline(s.values, { label: `${c.title}, ${s.name}: now ${shown(last, s.unit)}` }));
    el.append(row);
  }
  const axis = document.createElement("div");
  axis.className = "axis";
  axis.setAttribute("aria-hidden", "true");
  axis.append(Object.assign(document.createElement("span"), { textContent: `${minutes} min ago` }),
              Object.assign(document.createElement("span"), { textContent: "now" }));
  el.append(axis);
  return el;
}

function processRows(sample) {
  return (sample?.processes || []).map((p) => {
    const tr = document.createElement("tr");
    const age = (Date.parse(sample.at) - Date.parse(p.seen_at)) / 1000;
    const health = p.info?.health || "ok";
    for (const [text, cls] of [[p.id], [p.kind], [String(p.pid)], [`${Math.max(0, age).toFixed(1)} s ago`, "num"],
                               [health, health === "ok" ? "" : "bad"]]) {
      const td = tr.insertCell();
      td.textContent = text;
      if (cls) td.className = cls;
    }
    return tr;
  });
}

async function refresh() {
  try {
    const res = await fetch("/ops/data", { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const { samples } = await res.json();
    const minutes = samples.length > 1
      ? Math.max(1, Math.round((Date.parse(samples.at(-1).at) - Date.parse(samples[0].at)) / 60000)) : 0;
    $("cards").replaceChildren(...charts(samples).map((c) => card(c, minutes)));
    $("procs").tBodies[0].replaceChildren(...processRows(samples.at(-1)));
    $("status").textContent = samples.length ? `updated ${new Date(Date.parse(samples.at(-1).at)).toLocaleTimeString()}` : "no sample yet";
  } catch (err) {
    $("status").textContent = `cannot read /ops/data: ${err.message}`;
  }
}
refresh();
setInterval(refresh, 5000);
