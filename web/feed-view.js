// feed-view.js: feed rooms (feed.sport_event, feed.execution) as live tables, and the prices of
// the execution feed as a small chart per symbol.
//
//   const t = feedTable("feed.execution");      // <table> with its header
//   addFeedRows(t, events, lastPrice);           // rows in seq order, price moves coloured
//   drawPriceChart(chartEl, events);             // one sparkline per symbol (last 60 prices)
import { clockTime, fullTime, price, count } from "./format.js";
import { sparkline } from "./spark.js";

export const FEEDS = [
  { room: "feed.sport_event", title: "Sport events" },
  { room: "feed.execution", title: "Executions" },
];
export const isFeed = (room) => FEEDS.some((f) => f.room === room);

const COLUMNS = {
  "feed.sport_event": [["Time"], ["Sport"], ["Match"], ["Event"]],
  "feed.execution": [["Time"], ["Symbol"], ["Market"], ["Price", "num"], ["Quantity", "num"]],
};

export function feedTable(room) {
  const table = document.createElement("table");
  table.className = "feed";
  const caption = document.createElement("caption");
  caption.className = "visually-hidden";
  caption.textContent = `${FEEDS.find((f) => f.room === room)?.title || room}, newest last`;
  const head = table.createTHead().insertRow();
  for (const [name, cls] of COLUMNS[room] || [["Time"], ["Data"]]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    if (cls) th.className = cls;
    head.append(th);
  }
  table.append(caption);
  table.createTBody();
  return table;
}

function cell(row, text, cls, title) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  if (title) td.title = title;
  return td;
}

// `lastPrice` (symbol -> price) is the price before the first of `events`; it is moved along, so
// the next call colours its first row against the last one of this call.
export function addFeedRows(table, events, lastPrice) {
  const rows = [];
  for (const e of events) {
    const d = e.data || {};
    const row = document.createElement("tr");
    row.dataset.seq = e.seq;
    cell(row, clockTime(e.ts), "", fullTime(e.ts));
    if (e.kind === "execution") {
      cell(row, d.symbol ?? "");
      cell(row, d.market ?? "");
      const before = lastPrice.get(d.symbol);
      const dir = before === undefined || d.price === before ? "" : d.price > before ? "up" : "down";
      const td = cell(row, `${dir === "up" ? "▲ " : dir === "down" ? "▼ " : ""}${price(d.price)}`, `num ${dir}`);
      if (dir) td.title = `${dir} from ${price(before)}`;
      cell(row, typeof d.quantity === "number" ? count(d.quantity) : String(d.quantity ?? ""), "num");
      lastPrice.set(d.symbol, d.price);
    } else if (e.kind === "sport_event") {
      cell(row, d.sport ?? "");
      cell(row, d.match_title ?? "");
      cell(row, d.data_event ?? "");
    } else {
      cell(row, JSON.stringify(d));
    }
    rows.push(row);
  }
  table.tBodies[0].append(...rows);
}

export function trimFeedRows(table, keep) {
  const body = table.tBodies[0];
  while (body.rows.length > keep) body.rows[0].remove();
}

// The last 60 prices of each symbol among `events` (in seq order), up to 12 symbols.
export function drawPriceChart(el, events) {
  const prices = new Map();
  for (const e of events) {
    if (e.kind !== "execution" || typeof e.data?.price !== "number") continue;
    const list = prices.get(e.data.symbol) || [];
    list.push(e.data.price);
    if (list.length > 60) list.shift();
    prices.set(e.data.symbol, list);
  }
  el.replaceChildren();
  const symbols = [...prices.keys()].sort().slice(0, 12);
  for (const symbol of symbols) {
    const values = prices.get(symbol);
    const fig = document.createElement("figure");
    const cap = document.createElement("figcaption");
    const name = document.createElement("strong");
    name.textContent = symbol;
    const last = values[values.length - 1], first = values[0];
    const now = document.createElement("span");
    now.textContent = price(last);
    now.className = last > first ? "up" : last < first ? "down" : "";
    cap.append(name, now);
    fig.append(cap, sparkline(values, { label: `${symbol} price, last ${values.length}: from ${price(first)} to ${price(last)}` }));
    el.append(fig);
  }
}
