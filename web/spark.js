// spark.js: a small line chart as inline SVG (no library, no external service), for the feed
// room's prices and the /ops page.
//
//   sparkline([3, 5, 4, 8], { label: "KO price" })  -> <svg role="img" aria-label="KO price: …">

const NS = "http://www.w3.org/2000/svg";

export function sparkline(values, { label = "", width = 100, height = 30 } = {}) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  const pts = values.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (pts.length) {
    const lo = Math.min(...pts), hi = Math.max(...pts), span = hi - lo || 1;
    const step = values.length > 1 ? width / (values.length - 1) : 0;
    const line = document.createElementNS(NS, "polyline");
    const coords = [];
    values.forEach((v, i) => {
      if (typeof v !== "number" || !Number.isFinite(v)) return;
      coords.push(`${(i * step).toFixed(1)},${(height - 2 - ((v - lo) / span) * (height - 4)).toFixed(1)}`);
    });
    line.setAttribute("points", coords.join(" "));
    svg.append(line);
  }
  return svg;
}
