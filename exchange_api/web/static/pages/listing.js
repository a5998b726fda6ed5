// One listing: schema, price, usage against its limit, policy, and its on-chain record.

import { api } from "../api.js";
import { budgetLine, callView, contracts, findListingEvent, formatEps, pageChain, privacyBudget, readListing }
  from "../chain.js";
import { badge, dl, emptyState, errorState, formatTime, formatWei, h, hexCode, table, put } from "../dom.js";
import { listing } from "../model.js";
import { isPolicyDocument, policyWords } from "../policy.js";
import { sendContractTx } from "../tx.js";
import { usageMeter } from "./catalog.js";
import { txButton } from "./earnings.js";

function policyView(policy) {
  if (isPolicyDocument(policy)) {
    return h("div", { id: "policy" }, policyWords(policy), h("p", { class: "muted" }, "Every compute node checks " +
      "this policy against the document the listing's on-chain policy hash commits to before it computes."));
  }
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
    // A summary line lets the verdict wrap: a nowrap badge would widen a narrow screen past its edge.
    h("p", { class: "summary" }, differ.length ? badge("bad", `The catalog differs from the chain on: ${differ.join(", ")}`)
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

/** A meter of ε spent against the total, like the usage meter; its label is the whole budget in words. */
export function budgetMeter(b) {
  const line = budgetLine(b);
  // <meter> takes numbers: ε itself is exact enough for drawing, the words carry the exact decimals.
  const [total, spent] = [Number(b.total) / 1e6, Number(b.spent) / 1e6];
  const pct = b.total ? Number((b.spent * 100n) / b.total) : 0;
  const level = pct >= 90 ? "high" : pct >= 70 ? "mid" : "low";
  return h("span", { class: "usage budget", id: "privacy-budget", "data-spent": b.spent.toString(),
    "data-left": b.left.toString(), "data-total": b.total.toString() },
  h("meter", { min: 0, max: total, value: spent, low: total * 0.7, high: total * 0.9, optimum: 0,
    "aria-label": `Privacy budget: ${line}`, class: `meter-${level}` }), " ", line,
  b.left < b.perJob ? [" ", badge("warn", `no further job fits: each needs ε ${formatEps(b.perJob)}`)]
    : null);
}

/** The dataset's privacy budget, read from the Market on the chain (not the exchange API) into `slot`. */
async function budgetFact(id, slot) {
  const market = contracts().Market;
  const reader = pageChain();
  slot.classList.remove("loading");
  if (!market || !reader) {
    slot.replaceChildren(badge("warn", "the page cannot reach the chain to read the privacy budget"));
    return;
  }
  try {
    const b = await privacyBudget(reader, market, id);
    slot.replaceChildren(b.enabled ? budgetMeter(b)
      : h("span", { id: "privacy-budget", "data-total": "0" }, "no privacy budget (exact aggregates)"));
  } catch (err) {
    slot.replaceChildren(badge("warn", `the privacy budget could not be read from the chain: ${err.message}`));
  }
}

const MAX_PRICE = (1n << 96n) - 1n;
const MAX_USES = 2 ** 32 - 1;
const ZERO32 = `0x${"0".repeat(64)}`;

/** The Market's full record of listing `id` of `kind` (what its update function replaces), read from the chain. */
export async function listingRecord(id, kind = "dataset") {
  const market = contracts().Market;
  const reader = pageChain();
  if (!market || !reader) throw new Error("this page knows no chain RPC and Market contract to read the listing from");
  return (await callView(reader, market, "Market", kind === "algorithm" ? "algorithm" : "dataset", id))["0"];
}

const utcInput = (seconds) => (Number(seconds) ? new Date(Number(seconds) * 1000).toISOString().slice(0, 16) : "");
const noPolicy = (hash) => /^(0x)?0{64}$/.test(hash);

/**
 * The form's values as the arguments of Market.updateDataset (DatasetTerms) or updateAlgorithm after the id;
 * what the form does not change (metadata, manifest, secret parameters) stays the chain's. Throws naming a bad field.
 */
export function argsFromForm(form, rec, kind = "dataset") {
  const text = (name) => (form.querySelector(`[name="${name}"]`)?.value || "").trim();
  const price = text("price");
  if (!/^\d+$/.test(price) || BigInt(price) > MAX_PRICE) {
    throw new Error(`The price “${price}” is not a whole number of wei from 0 to 2^96 − 1.`);
  }
  const maxUses = text("max_uses") || "0";
  if (!/^\d+$/.test(maxUses) || Number(maxUses) > MAX_USES) {
    throw new Error(`The use limit “${maxUses}” is not a whole number from 0 (unlimited) to ${MAX_USES}.`);
  }
  if (kind === "algorithm") return [rec.metadataCid, BigInt(price), rec.secretParamsHash, BigInt(maxUses)];
  const expiry = text("expires");
  let expiresAt = 0;
  if (expiry) {
    expiresAt = Math.floor(Date.parse(`${expiry}Z`) / 1000);
    if (!Number.isFinite(expiresAt) || expiresAt <= 0) throw new Error(`The expiry “${expiry}” is not a date and time.`);
  }
  const policy = text("policy_hash") || ZERO32;
  if (!/^0x[0-9a-fA-F]{64}$/.test(policy)) {
    throw new Error(`The policy hash “${policy}” is not 0x and 64 hex digits (leave it empty for the default policy).`);
  }
  return [{ metadataCid: rec.metadataCid, manifestHash: rec.manifestHash, pricePerUse: BigInt(price),
    maxUses: BigInt(maxUses), expiresAt: BigInt(expiresAt), policyHash: policy.toLowerCase() }];
}

function currentTerms(rec, kind) {
  return dl([["Price per use", h("span", { id: "current-price", "data-wei": rec.pricePerUse.toString() },
    `${formatWei(rec.pricePerUse.toString())} (${rec.pricePerUse} wei)`)],
  ["Use limit", h("span", { id: "current-max-uses" }, Number(rec.maxUses) ? `${rec.maxUses} (used ${rec.uses})`
    : `unlimited (used ${rec.uses})`)],
  kind === "dataset" ? ["Expires", h("span", { id: "current-expiry" }, Number(rec.expiresAt)
    ? formatTime(Number(rec.expiresAt)) : "never")] : null,
  kind === "dataset" ? ["Policy hash", h("span", { id: "current-policy" }, noPolicy(rec.policyHash)
    ? "none (the nodes' default policy)" : hexCode(rec.policyHash, 10))] : null]);
}

function field(id, name, label, value, hint, attrs = {}) {
  return h("div", { class: "field" }, h("label", { for: id }, label),
    h("input", { id, name, value, "aria-describedby": `${id}-hint`, ...attrs }),
    h("span", { class: "hint muted", id: `${id}-hint` }, hint));
}

/**
 * "Change this listing": the on-chain terms now, and a form sent as Market.updateDataset (or updateAlgorithm)
 * from the wallet. The page offers it to the owner only; it is exported so a test can offer it to anyone, since
 * the contract (NotListingOwner), not the page, is what refuses a stranger.
 */
export async function changeSection(id, kind = "dataset") {
  const section = h("section", { "aria-labelledby": "h-change", id: "change" }, h("h2", { id: "h-change" }, "Change this listing"));
  let rec;
  try {
    rec = await listingRecord(id, kind);
  } catch (err) {
    section.append(errorState(err));
    return section;
  }
  const now = h("div", { id: "current-terms" }, currentTerms(rec, kind));
  const form = h("form", { id: "update-form", class: "filters", "aria-label": `New terms of ${kind} #${id}`,
    onsubmit: (ev) => ev.preventDefault() },
  field("u-price", "price", "Price per use (wei)", rec.pricePerUse.toString(), "A whole number of wei.",
    { inputmode: "numeric", required: true }),
  field("u-max-uses", "max_uses", "Use limit", String(rec.maxUses), "0 means unlimited; not below the uses so far.",
    { inputmode: "numeric" }),
  kind === "dataset" ? field("u-expires", "expires", "Expires (UTC)", utcInput(rec.expiresAt),
    "Empty means never; must be in the future.", { type: "datetime-local" }) : null,
  kind === "dataset" ? field("u-policy", "policy_hash", "Policy hash", noPolicy(rec.policyHash) ? "" : rec.policyHash,
    "The sha256 of the policy document (publish it with dx dataset policy); empty: the default policy.",
    { spellcheck: "false", autocomplete: "off" }) : null);
  const fn = kind === "algorithm" ? "updateAlgorithm" : "updateDataset";
  section.append(h("p", { class: "muted" }, "Current terms, as the Market contract holds them:"), now, form,
    kind === "dataset" ? h("p", { class: "hint muted" }, "New data under this listing (a new share manifest) is " +
      "published with dx dataset update: the browser never shares or seals data.") : null,
    txButton("Save the new terms", () => sendContractTx("Market", fn, [BigInt(id), ...argsFromForm(form, rec, kind)]), {
      id: "update-listing",
      again: true,
      done: async () => {
        rec = await listingRecord(id, kind);
        now.replaceChildren(currentTerms(rec, kind));
        return "The Market now holds the new terms; the catalog shows them once the exchange has indexed the change.";
      },
    }));
  return section;
}

export async function render(main, [plural, id], { link, session }) {
  const kind = plural === "algorithms" ? "algorithm" : "dataset";
  const l = listing(await api(`/catalog/${plural}/${id}`, { auth: false }), kind);
  // "usage budget": its warnings wrap on a narrow screen like the budget line itself.
  const budgetSlot = kind === "dataset" ? h("span", { class: "usage budget loading", "aria-live": "polite" },
    "Reading the chain…")
    : null;
  const chainBox = h("section", { "aria-labelledby": "h-chain", id: "onchain" },
    h("h2", { id: "h-chain" }, "On-chain record"));
  put(main, 
    h("p", { class: "crumbs" }, link("", "Catalog"), " / ", kind === "algorithm" ? "Algorithm" : "Dataset", ` #${l.id}`),
    h("h1", {}, l.title),
    l.description ? h("p", { class: "lede" }, l.description) : null,
    h("section", { "aria-labelledby": "h-terms" }, h("h2", { id: "h-terms" }, "Terms"),
      dl([["Owner", hexCode(l.owner, 8)], ["Price per use", formatWei(l.priceWei)], ["Usage", usageMeter(l)],
        budgetSlot ? ["Privacy budget", budgetSlot] : null,
        ["Expires", l.expiresAt ? formatTime(Number(l.expiresAt)) : "never"], ["Status", l.status],
        l.tags.length ? ["Tags", l.tags.join(", ")] : null]),
      l.status === "active" ? h("p", {}, link(`buy?${kind}=${l.id}`, "Request a job")) : null),
    kind === "dataset" ? h("section", { "aria-labelledby": "h-schema" }, h("h2", { id: "h-schema" }, "Schema"),
      schemaView(l.columns)) : null,
    h("section", { "aria-labelledby": "h-policy" }, h("h2", { id: "h-policy" }, "Policy"), policyView(l.policy)),
    chainBox,
    kind === "dataset" ? h("p", {}, link(`audit/datasets/${l.id}`, "Metered usage of this dataset (regulator view)"))
      : null,
  );
  await Promise.all([onchainRecord(l, chainBox), budgetSlot ? budgetFact(l.id, budgetSlot) : null]);
  // Only the on-chain owner is offered the form; the Market refuses anyone else whatever a page offers.
  const me = session && session.token ? String(session.address).toLowerCase() : "";
  if (me) {
    const rec = await listingRecord(l.id, kind).catch(() => null);
    if (rec && String(rec.owner).toLowerCase() === me) chainBox.after(await changeSection(l.id, kind));
  }
}
