// A hand-drawn SVG step chart of cumulative uses over time, with the listing's limit as a dashed line.

import { h, svg } from "./dom.js";

const W = 640;
const H = 260;
const PAD = { left: 48, right: 16, top: 16, bottom: 40 };

function ticks(max, count = 4) {
  const step = Math.max(1, Math.ceil(max / count));
  const out = [];
  for (let v = 0; v <= max; v += step) out.push(v);
  return out;
}

/** points: [{t: ms, n: cumulative count}] sorted by t; limit: max uses (0 = none). */
export function usageChart(points, limit, title) {
  const id = `chart-${Math.random().toString(36).slice(2, 8)}`;
  const first = points.length ? points[0].t : Date.now();
  const t1 = points.length ? Math.max(points.at(-1).t, first + 60_000) : first + 60_000;
  // Start a little before the first use so that its step is visible.
  const t0 = first - Math.max((t1 - first) * 0.05, 60_000);
  const top = Math.max(limit || 0, points.length ? points.at(-1).n : 0, 1);
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const y = (n) => H - PAD.bottom - (n / top) * (H - PAD.top - PAD.bottom);
  let d = `M ${x(t0)} ${y(0)}`;
  for (const p of points) d += ` H ${x(p.t).toFixed(1)} V ${y(p.n).toFixed(1)}`;
  if (points.length) d += ` H ${x(t1)}`;
  const desc = points.length
    ? `${points.at(-1).n} uses between ${new Date(t0).toISOString()} and ${new Date(t1).toISOString()}` +
      (limit ? ` against a limit of ${limit}` : "")
    : "No use yet";
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": `${id}-t ${id}-d` },
    svg("title", { id: `${id}-t`, text: title }),
    svg("desc", { id: `${id}-d`, text: desc }),
    ticks(top).map((v) => [
      svg("line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      svg("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", text: String(v) }),
    ]),
    svg("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: H - PAD.bottom }),
    svg("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom }),
    limit ? [svg("line", { class: "limit", x1: PAD.left, x2: W - PAD.right, y1: y(limit), y2: y(limit) }),
      svg("text", { x: W - PAD.right, y: y(limit) - 5, "text-anchor": "end", text: `limit ${limit}` })] : null,
    svg("path", { class: "line", d }),
    points.map((p) => svg("circle", { cx: x(p.t), cy: y(p.n), r: 3.5, fill: "currentColor" })),
    svg("text", { x: PAD.left, y: H - 12, text: new Date(t0).toISOString().slice(0, 16).replace("T", " ") }),
    svg("text", { x: W - PAD.right, y: H - 12, "text-anchor": "end",
      text: new Date(t1).toISOString().slice(0, 16).replace("T", " ") }),
  );
}

/** Horizontal bars with their counts as text (readable without the graphic). */
export function bars(label, counts) {
  const entries = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const max = Math.max(1, ...entries.map(([, n]) => n));
  return h("div", { class: "bars", role: "list", "aria-label": label }, entries.map(([k, n]) => {
    const fill = h("span", { class: "bar-fill" });
    // Through CSSOM, not a style attribute: the page's CSP allows no inline styles.
    fill.style.display = "block";
    fill.style.width = `${(100 * n) / max}%`;
    return h("div", { class: "bar", role: "listitem" },
      h("span", { title: k }, k.length > 24 ? `${k.slice(0, 10)}…${k.slice(-8)}` : k),
      h("span", { "aria-hidden": "true" }, fill), h("span", {}, String(n)));
  }));
}
