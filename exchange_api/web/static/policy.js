// A dataset listing's data-use policy (mpc_compute/policy.py, version 1) in words, for the seller's approval
// review and the listing page.

import { canonicalJson } from "./canonical.js";
import { h } from "./dom.js";

const RULES = {
  join_key: "join key only: may be matched on, never released or used as a value",
  feature: "feature: may enter a model or a score",
  aggregate_only: "aggregate only: may appear only inside an aggregate over enough rows",
  not_usable: "not usable",
};

export function describeValue(v) {
  if (typeof v !== "object" || v === null) return String(v);
  try {
    return canonicalJson(v);
  } catch {
    return JSON.stringify(v); // a float the canonical form cannot spell: shown, never hashed
  }
}

/** True for a policy document of the version-1 shape (as opposed to older free-form listing terms). */
export function isPolicyDocument(policy) {
  return Boolean(policy && typeof policy === "object" && "min_group_size" in policy);
}

/** The policy as a list of sentences. */
export function policyWords(policy) {
  if (typeof policy !== "object" || !Object.keys(policy).length) return h("span", {}, "an empty policy");
  const items = [];
  if (policy.min_group_size !== undefined) {
    items.push(`every released aggregate covers at least ${describeValue(policy.min_group_size)} rows`);
  }
  const columns = Object.entries(policy.columns || {});
  for (const [col, rule] of columns) items.push(`column ${col}: ${RULES[rule] || describeValue(rule)}`);
  if (!columns.length) items.push("columns: identifiers are join keys only, other columns features");
  const algos = policy.allowed_algorithms;
  items.push(Array.isArray(algos) ? `algorithms allowed: ${algos.length ? algos.map((x) => (x && typeof x === "object"
    ? `listing #${x.listing_id} with code hash ${String(x.code_hash).slice(0, 12)}…` : String(x))).join(", ") : "none"}`
    : "any algorithm");
  const buyers = policy.allowed_buyers;
  items.push(Array.isArray(buyers) ? `buyers allowed: ${buyers.length ? buyers.join(", ") : "none"}` : "any member may buy");
  const caps = policy.id_lookups;
  if (caps && typeof caps === "object") {
    items.push(`ID lookups: at most ${caps.per_job} per job and ${caps.per_period} per ${caps.period_seconds} s per buyer`);
  } else if (caps !== undefined && caps !== null) items.push(`ID lookups capped: ${describeValue(caps)}`);
  if ("pre_approve" in policy) {
    items.push(policy.pre_approve ? "jobs within the policy are pre-approved" : "every job needs the owner's signature");
  }
  return h("ul", { class: "policy" }, items.map((x) => h("li", {}, x)));
}

