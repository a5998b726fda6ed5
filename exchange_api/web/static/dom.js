// Tiny DOM builders: every piece of server data goes in as text, never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function shortHex(value, keep = 6) {
  if (!value) return "—";
  const s = String(value);
  return s.length <= keep * 2 + 4 ? s : `${s.slice(0, keep + 2)}…${s.slice(-keep)}`;
}

/** A hex value shown short, with the full value in a title and for screen readers. */
export function hexCode(value, keep = 6) {
  if (!value) return h("span", { class: "muted" }, "—");
  return h("code", { class: "hex", title: String(value), "aria-label": String(value) }, shortHex(value, keep));
}

export function formatWei(wei) {
  if (wei === undefined || wei === null || wei === "") return "—";
  let n;
  try {
    n = BigInt(String(wei));
  } catch {
    return String(wei);
  }
  const unit = 10n ** 18n;
  const whole = n / unit;
  const frac = (n % unit).toString().padStart(18, "0").replace(/0+$/, "").slice(0, 6);
  return `${whole}${frac ? `.${frac}` : ""} ETH`;
}

export function formatTime(value) {
  if (value === undefined || value === null || value === "") return "—";
  let d;
  if (typeof value === "number") {
    // Log entries count microseconds, chain timestamps seconds.
    d = new Date(value > 1e14 ? value / 1000 : value > 1e11 ? value : value * 1000);
  } else {
    d = new Date(value);
  }
  return Number.isNaN(d.getTime()) ? String(value) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function badge(state, label) {
  const icons = { ok: "✔", bad: "✖", warn: "!", pending: "…", info: "i" };
  return h("span", { class: `badge badge-${state}`, "data-state": state },
    h("span", { "aria-hidden": "true" }, icons[state] || ""), " ", label);
}

export function emptyState(message, hint) {
  return h("div", { class: "empty", role: "note" }, h("p", {}, message), hint ? h("p", { class: "muted" }, hint) : null);
}

export function errorState(err) {
  return h("div", { class: "error", role: "alert" },
    h("p", {}, h("strong", {}, "Something went wrong: "), err && err.message ? err.message : String(err)));
}

export function table(caption, headers, rows, attrs = {}) {
  // Each cell carries its column name so that narrow screens can show rows as labelled cards.
  for (const tr of rows) {
    [...tr.children].forEach((td, i) => td.setAttribute("data-label", headers[i] ?? ""));
  }
  return h("div", { class: "table-wrap" },
    h("table", attrs,
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows)));
}

export function dl(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

/** Element.append that skips null, undefined and false (native append would print them as text). */
export function put(el, ...children) {
  append(el, children);
  return el;
}

/** A prompt instead of the page when nobody is signed in; returns true when the page may go on. */
export function gate(main, session, title, why) {
  if (session.token) return true;
  put(main, h("h1", {}, title), h("div", { class: "empty", role: "note" },
    h("p", {}, why), h("p", {}, "Use the “Sign in with Ethereum” button at the top of the page.")));
  return false;
}

