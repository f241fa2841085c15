// format.js: how the web client writes times, links and numbers. No DOM state, no network.
//
//   relativeTime("2026-11-30T08:00:00Z", now)  -> "now" | "5 min ago" | "08:00" | "Nov 28, 08:00"
//   linkify(el, "see https://x.org/a.")         -> el gets "see ", <a href="https://x.org/a" …>, "."
//   price(59.5) -> "59.50";  count(1234567) -> "1,234,567"

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const secondsFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });

export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const ago = (now - t) / 1000;
  if (ago < 45) return "now";
  if (ago < 3600) return `${Math.round(ago / 60)} min ago`;
  const d = new Date(t), n = new Date(now);
  if (d.toDateString() === n.toDateString()) return timeFmt.format(d);
  return dayFmt.format(d);
}
export function fullTime(iso) { const t = Date.parse(iso); return Number.isNaN(t) ? "" : fullFmt.format(new Date(t)); }
export function clockTime(iso) { const t = Date.parse(iso); return Number.isNaN(t) ? "" : secondsFmt.format(new Date(t)); }

// A <time> element: relative text, the full date on hover (title) and for machines (datetime).
export function timeElement(iso) {
  const el = document.createElement("time");
  el.dateTime = iso || "";
  el.dataset.rel = "1";
  el.textContent = relativeTime(iso);
  el.title = fullTime(iso);
  return el;
}

// Appends `text` to `el` as text nodes, with http(s) URLs as links that open in a new tab without
// giving it a handle on this page. Nothing is parsed as HTML.
const urlPattern = /\bhttps?:\/\/[^\s<>"'`]+/gi;
export function linkify(el, text) {
  let last = 0;
  for (const m of text.matchAll(urlPattern)) {
    let url = m[0];
    const trail = url.match(/[.,;:!?)\]}'"]+$/);  // sentence punctuation is not part of the link
    if (trail) url = url.slice(0, -trail[0].length);
    let parsed;
    try { parsed = new URL(url); } catch { continue; }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") continue;
    el.append(text.slice(last, m.index));
    const a = document.createElement("a");
    a.href = parsed.href;
    a.textContent = url;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    el.append(a);
    last = m.index + url.length;
  }
  el.append(text.slice(last));
}

export function price(v) { return typeof v === "number" ? v.toFixed(2) : String(v ?? ""); }
const countFmt = new Intl.NumberFormat("en-US");
export function count(v) { return countFmt.format(v); }
