// The user's own trust anchors: the chain RPC, its chain id and the contract addresses every on-chain check
// runs against. They live in this browser (localStorage), entered by the user; the exchange API's values are
// only ever a suggestion, because the API is what the regulator audits.

const KEY = "dx.trust.v1";

export const ANCHOR_FIELDS = [
  ["rpcUrl", "Chain RPC URL"],
  ["chainId", "Chain ID"],
  ["notary", "Notary contract"],
  ["computeJobs", "ComputeJobs contract"],
];

export class TrustError extends Error {}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** Check and normalize anchors typed by the user; throws a TrustError naming the first bad field. */
export function normalizeAnchors(raw) {
  const rpcUrl = String(raw.rpcUrl || "").trim();
  let url;
  try {
    url = new URL(rpcUrl);
  } catch {
    throw new TrustError(`Chain RPC URL: ${rpcUrl ? `“${rpcUrl}” is not a URL` : "required"}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TrustError(`Chain RPC URL: only http and https are supported, not ${url.protocol}`);
  }
  const chainId = String(raw.chainId ?? "").trim();
  if (!/^[1-9]\d{0,15}$/.test(chainId)) throw new TrustError("Chain ID: a positive whole number is required");
  const out = { rpcUrl, chainId: Number(chainId) };
  for (const [key, label] of ANCHOR_FIELDS.slice(2)) {
    const v = String(raw[key] || "").trim();
    if (!ADDRESS.test(v)) throw new TrustError(`${label}: “${v}” is not a 0x-prefixed 20-byte address`);
    out[key] = v.toLowerCase();
  }
  return out;
}

/** The saved anchors, or null when the user has not configured any (or the stored copy is unreadable). */
export function trustAnchors() {
  try {
    const stored = JSON.parse(localStorage.getItem(KEY) || "null");
    return stored ? { ...normalizeAnchors(stored), savedAt: stored.savedAt || null } : null;
  } catch {
    return null;
  }
}

export function saveTrustAnchors(raw) {
  const anchors = { ...normalizeAnchors(raw), savedAt: new Date().toISOString() };
  localStorage.setItem(KEY, JSON.stringify(anchors));
  return anchors;
}

export function forgetTrustAnchors() {
  localStorage.removeItem(KEY);
}

/** What the exchange server put in the page (its settings and deployment file): a suggestion only. */
export function suggestedAnchors() {
  const { rpcUrl = "", notary = "" } = document.body.dataset;
  let contracts = {};
  try {
    contracts = JSON.parse(document.body.dataset.contracts || "{}");
  } catch {
    contracts = {};
  }
  return { rpcUrl, chainId: "", notary: (contracts.Notary || notary || "").toLowerCase(),
    computeJobs: (contracts.ComputeJobs || "").toLowerCase() };
}

/** Fields where the suggestion differs from the saved anchors: [[label, yours, suggested], ...]. */
export function suggestionDiffers(anchors, suggestion) {
  return ANCHOR_FIELDS.filter(([key]) => suggestion[key] !== "" && suggestion[key] !== undefined
    && String(suggestion[key]).toLowerCase() !== String(anchors[key]).toLowerCase())
    .map(([key, label]) => [label, String(anchors[key]), String(suggestion[key])]);
}
