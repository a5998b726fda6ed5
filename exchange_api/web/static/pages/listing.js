// One listing: schema, price, usage against its limit, policy, and its on-chain record.

import { api } from "../api.js";
import { contracts, findListingEvent, pageChain, readListing } from "../chain.js";
import { badge, dl, emptyState, formatTime, formatWei, h, hexCode, table, put } from "../dom.js";
import { listing } from "../model.js";
import { usageMeter } from "./catalog.js";

function policyView(policy) {
  const entries = Object.entries(policy || {}).filter(([, v]) => v !== null && v !== undefined && v !== "");
  if (!entries.length) return emptyState("No policy restrictions: any buyer and algorithm may request, " +
    "subject to the owner's approval.");
  const show = (v) => (Array.isArray(v) ? (v.length ? v.join(", ") : "none") : typeof v === "object"
    ? JSON.stringify(v) : String(v));
  return dl(entries.map(([k, v]) => [k.replace(/_/g, " "), show(v)]));
}

function schemaView(columns) {
  if (!columns.length) return emptyState("The owner published no schema for this listing.");
  return table("Columns", ["Name", "Type", "Description"], columns.map((c) =>
    h("tr", {}, h("td", {}, h("code", {}, c.name ?? String(c))), h("td", {}, c.dtype || c.type || "—"),
      h("td", {}, c.description || ""))));
}

/** The catalog's terms next to the Market contract's own: usage and limit are what the chain counts. */
function termsCheck(l, rec) {
  const norm = (v) => String(v ?? "").toLowerCase().replace(/^0x/, "");
  const rows = [
    ["Owner", norm(l.owner), norm(rec.owner)],
    ["Price per use (wei)", String(l.priceWei ?? ""), rec.pricePerUse],
    ["Uses", String(l.uses), String(rec.uses)],
    ["Use limit", String(l.maxUses), String(rec.maxUses)],
    [l.kind === "algorithm" ? "Code hash" : "Manifest commitment", norm(l.manifestHash), norm(rec.commitment)],
  ];
  const differ = rows.filter(([, a, b]) => a !== b).map(([k]) => k);
  return h("div", { id: "onchain-terms" },
    table("The catalog's terms against the Market contract's", ["Term", "Catalog", "On-chain"],
      rows.map(([k, a, b]) => h("tr", { "data-state": a === b ? "ok" : "bad" }, h("td", {}, k),
        h("td", {}, h("code", {}, a.length > 20 ? `${a.slice(0, 10)}…${a.slice(-6)}` : a || "—")),
        h("td", {}, h("code", {}, b.length > 20 ? `${b.slice(0, 10)}…${b.slice(-6)}` : b))))),
    h("p", {}, differ.length ? badge("bad", `The catalog differs from the chain on: ${differ.join(", ")}`)
      : badge("ok", `Usage ${rec.uses} of ${rec.maxUses || "unlimited"} and every term match the chain`)));
}

/** The listing's record read from the chain itself: its listing transaction, found by id and block. */
async function onchainRecord(l, box) {
  const market = contracts().Market;
  const reader = pageChain();
  const facts = (tx, note) => dl([["Market contract", hexCode(market, 8)], ["Listing transaction", tx],
    ["Block", l.block ?? "—"], ["Metadata CID", hexCode(l.metadataCid, 10)],
    [l.kind === "algorithm" ? "Code hash" : "Share manifest commitment", hexCode(l.manifestHash, 10)],
    note ? ["Check", note] : null]);
  if (!market || !reader || !l.block) {
    box.append(facts(hexCode(l.txHash, 10), badge("warn", "the page cannot reach the chain to check this record")));
    return;
  }
  try {
    const [ev, rec] = await Promise.all([findListingEvent(reader, market, l.kind, l.id, l.block),
      readListing(reader, market, l.kind, l.id).catch(() => null)]);
    if (!ev) {
      box.append(facts("—", badge("bad", `no ${l.kind} #${l.id} listing event in block ${l.block}`)));
    } else if (l.owner && ev.owner.toLowerCase() !== String(l.owner).toLowerCase()) {
      box.append(facts(hexCode(ev.txHash, 10), badge("bad", `the chain names owner ${ev.owner}`)));
    } else {
      box.append(facts(h("span", { id: "listing-tx" }, hexCode(ev.txHash, 10)),
        badge("ok", "listing event found on-chain")));
    }
    if (rec) box.append(termsCheck(l, rec));
  } catch (err) {
    box.append(facts(hexCode(l.txHash, 10), badge("warn", err.message)));
  }
}

export async function render(main, [plural, id], { link }) {
  const kind = plural === "algorithms" ? "algorithm" : "dataset";
  const l = listing(await api(`/catalog/${plural}/${id}`, { auth: false }), kind);
  const chainBox = h("section", { "aria-labelledby": "h-chain", id: "onchain" },
    h("h2", { id: "h-chain" }, "On-chain record"));
  put(main, 
    h("p", { class: "crumbs" }, link("", "Catalog"), " / ", kind === "algorithm" ? "Algorithm" : "Dataset", ` #${l.id}`),
    h("h1", {}, l.title),
    l.description ? h("p", { class: "lede" }, l.description) : null,
    h("section", { "aria-labelledby": "h-terms" }, h("h2", { id: "h-terms" }, "Terms"),
      dl([["Owner", hexCode(l.owner, 8)], ["Price per use", formatWei(l.priceWei)], ["Usage", usageMeter(l)],
        ["Expires", l.expiresAt ? formatTime(Number(l.expiresAt)) : "never"], ["Status", l.status],
        l.tags.length ? ["Tags", l.tags.join(", ")] : null])),
    kind === "dataset" ? h("section", { "aria-labelledby": "h-schema" }, h("h2", { id: "h-schema" }, "Schema"),
      schemaView(l.columns)) : null,
    h("section", { "aria-labelledby": "h-policy" }, h("h2", { id: "h-policy" }, "Policy"), policyView(l.policy)),
    chainBox,
    kind === "dataset" ? h("p", {}, link(`audit/datasets/${l.id}`, "Metered usage of this dataset (regulator view)"))
      : null,
  );
  await onchainRecord(l, chainBox);
}
