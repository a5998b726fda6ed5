// Catalog view (public): search and filter dataset and algorithm listings.

import { api, items } from "../api.js";
import { emptyState, errorState, formatWei, h, put } from "../dom.js";
import { listing, usagePercent } from "../model.js";

export function usageMeter(l) {
  const pct = usagePercent(l);
  const label = l.maxUses ? `${l.uses} of ${l.maxUses} uses` : `${l.uses} uses (no limit)`;
  if (pct === null) return h("span", { class: "usage" }, label);
  const level = pct >= 90 ? "high" : pct >= 70 ? "mid" : "low";
  return h("span", { class: "usage" },
    h("meter", { min: 0, max: l.maxUses, value: l.uses, low: Math.floor(l.maxUses * 0.7),
      high: Math.floor(l.maxUses * 0.9), optimum: 0, "aria-label": `Usage: ${label}`, class: `meter-${level}` }),
    " ", label);
}

function card(l, link) {
  const path = `${l.kind === "algorithm" ? "algorithms" : "datasets"}/${l.id}`;
  return h("li", { class: "card", "data-listing": `${l.kind}:${l.id}` },
    h("h3", {}, link(path, l.title)),
    h("p", { class: "kind" }, l.kind === "algorithm" ? "Algorithm" : "Dataset", ` #${l.id}`,
      l.status !== "active" ? h("span", { class: "badge badge-warn" }, ` ${l.status}`) : null),
    l.description ? h("p", { class: "desc" }, l.description) : null,
    h("p", {}, h("strong", {}, formatWei(l.priceWei)), " per use · ", usageMeter(l)),
    l.tags.length ? h("ul", { class: "tags", "aria-label": "Tags" }, l.tags.map((t) => h("li", {}, t))) : null);
}

const PAGE_SIZE = 24;

async function load(kind, query, page = 1) {
  const data = await api(`/catalog/${kind}`, { query: { ...query, page, page_size: PAGE_SIZE }, auth: false });
  const list = items(data, kind).map((x) => listing(x, kind === "algorithms" ? "algorithm" : "dataset"));
  return { list, total: Number(data.total ?? list.length) };
}

/** One kind's results, with a "Show more" button while the API has further pages. */
function resultBlock(kind, first, query, link) {
  const label = kind === "datasets" ? "Datasets" : "Algorithms";
  const cards = h("ul", { class: "cards" }, first.list.map((l) => card(l, link)));
  const block = h("section", { "aria-labelledby": `h-${kind}` },
    h("h2", { id: `h-${kind}` }, `${label} (${first.total})`));
  if (!first.list.length) {
    block.append(emptyState(`No ${kind} match these filters.`, "Try a shorter search or clear the tag."));
    return block;
  }
  block.append(cards);
  let page = 1;
  let shown = first.list.length;
  if (shown < first.total) {
    const more = h("button", { type: "button", class: "button button-quiet more" }, `Show more ${kind}`);
    more.addEventListener("click", async () => {
      more.disabled = true;
      try {
        const next = await load(kind, query, ++page);
        cards.append(...next.list.map((l) => card(l, link)));
        shown += next.list.length;
        cards.lastChild?.querySelector("a")?.focus();
        if (shown >= next.total || !next.list.length) more.remove();
      } catch (err) {
        block.append(errorState(err));
      } finally {
        more.disabled = false;
      }
    });
    block.append(more);
  }
  return block;
}

export async function render(main, _params, { link }) {
  const params = new URLSearchParams(location.search);
  const form = h("form", { class: "filters", role: "search", "aria-label": "Search the catalog" },
    h("div", { class: "field" },
      h("label", { for: "q" }, "Search"),
      h("input", { id: "q", name: "q", type: "search", value: params.get("q") || "",
        placeholder: "title, description, column…" })),
    h("div", { class: "field" },
      h("label", { for: "kind" }, "Show"),
      h("select", { id: "kind", name: "kind" },
        [["all", "Datasets and algorithms"], ["datasets", "Datasets"], ["algorithms", "Algorithms"]].map(([v, t]) =>
          h("option", { value: v, selected: (params.get("kind") || "all") === v }, t)))),
    h("div", { class: "field" },
      h("label", { for: "tag" }, "Tag"),
      h("input", { id: "tag", name: "tag", type: "text", value: params.get("tag") || "", placeholder: "e.g. credit" })),
    h("div", { class: "field" },
      h("label", { for: "sort" }, "Sort by"),
      h("select", { id: "sort", name: "sort" },
        [["newest", "Newest"], ["price_asc", "Price, lowest first"], ["price_desc", "Price, highest first"],
          ["title", "Title"]].map(([v, t]) => h("option", { value: v, selected: (params.get("sort") || "newest") === v }, t)))),
    h("button", { type: "submit", class: "button" }, "Search"));
  const results = h("section", { "aria-labelledby": "results-heading", "aria-live": "polite" });
  put(main, h("h1", {}, "Catalog"),
    h("p", { class: "lede" }, "Datasets and algorithms listed on the ledger. Data is never downloaded: buyers " +
      "request a compute contract and the owners approve it."), form, results);

  async function refresh() {
    const fd = new FormData(form);
    const query = { q: fd.get("q"), tag: fd.get("tag"), sort: fd.get("sort") };
    const kind = fd.get("kind");
    const qs = new URLSearchParams(Object.entries({ ...query, kind }).filter(([, v]) => v && v !== "all"
      && v !== "newest"));
    history.replaceState({}, "", `${location.pathname}${qs.toString() ? `?${qs}` : ""}`);
    results.replaceChildren(h("p", { class: "loading" }, "Searching…"));
    try {
      const kinds = kind === "all" ? ["datasets", "algorithms"] : [kind];
      const firsts = await Promise.all(kinds.map((k) => load(k, query)));
      const blocks = kinds.map((k, i) => resultBlock(k, firsts[i], query, link));
      results.replaceChildren(h("h2", { id: "results-heading", class: "visually-hidden" }, "Results"), ...blocks);
    } catch (err) {
      results.replaceChildren(errorState(err));
    }
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    refresh();
  });
  await refresh();
}
