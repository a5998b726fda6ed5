// Normalizers from the API's JSON to the shapes the views draw, so a renamed field is fixed in one place.

const pick = (obj, ...keys) => {
  for (const k of keys) {
    const path = k.split(".");
    let v = obj;
    for (const p of path) v = v == null ? undefined : v[p];
    if (v !== undefined && v !== null) return v;
  }
  return undefined;
};

const POLICY_KEY = /cohort|approved|allowed|buyers|algorithms|purpose|retention/i;

export function listing(x, kind) {
  const chain = pick(x, "chain", "onchain", "on_chain") || {};
  const extra = x.extra || {};
  const policy = pick(x, "policy", "extra.policy")
    || Object.fromEntries(Object.entries(extra).filter(([k]) => POLICY_KEY.test(k)));
  return {
    raw: x,
    kind: pick(x, "kind") || kind,
    id: Number(pick(x, "id", "listing_id", "dataset_id", "algorithm_id")),
    title: pick(x, "title", "name", "metadata.title") || `Listing ${pick(x, "id", "listing_id")}`,
    description: pick(x, "description", "metadata.description") || "",
    owner: pick(x, "owner", "seller", "provider"),
    priceWei: pick(x, "price_wei", "price", "price_per_use_wei"),
    uses: Number(pick(x, "uses", "used", "usage", "use_count") ?? 0),
    maxUses: Number(pick(x, "max_uses", "maxUses", "usage_limit") ?? 0),
    expiresAt: pick(x, "expires_at", "expiry"),
    status: pick(x, "status") || "active",
    tags: pick(x, "tags") || [],
    columns: pick(x, "columns", "schema", "metadata.columns") || [],
    metadataCid: pick(x, "metadata_cid", "metadataCid"),
    manifestHash: pick(x, "manifest_hash", "code_hash", "commitment"),
    policy,
    contract: pick(chain, "contract", "address", "contract_address") ?? pick(x, "contract_address", "contract"),
    txHash: pick(chain, "tx_hash", "tx") ?? pick(x, "tx_hash", "created_tx", "extra.tx_hash"),
    block: pick(chain, "block", "block_number") ?? pick(x, "created_block", "block_number", "block"),
    earningsWei: pick(x, "earnings_wei", "earnings", "revenue_wei"),
  };
}

export const JOB_STAGES = ["requested", "approved", "authorized", "running", "attested", "destroyed", "settled"];

export function job(x) {
  return {
    raw: x,
    id: Number(pick(x, "id", "job_id")),
    buyer: pick(x, "buyer"),
    status: String(pick(x, "status", "state") || "requested").toLowerCase(),
    algorithmId: pick(x, "algorithm_id", "algorithm.id", "algorithm"),
    algorithmName: pick(x, "algorithm_name", "algorithm.title", "algorithm.name"),
    datasetIds: pick(x, "dataset_ids", "datasets") || [],
    programHash: pick(x, "program_hash", "programHash"),
    paramHash: pick(x, "param_hash", "params_hash"),
    paymentWei: pick(x, "payment_wei", "payment", "price_wei"),
    deadline: pick(x, "deadline"),
    approvals: pick(x, "approvals") || [],
    attestations: pick(x, "attestations") || [],
    results: pick(x, "results", "result_shares", "output_shares") || [],
    createdBlock: pick(x, "created_block"),
    txHash: pick(x, "tx_hash", "request_tx"),
  };
}

export function entry(x) {
  return {
    raw: x,
    seq: Number(pick(x, "seq", "index")),
    time: pick(x, "time", "time_us"),
    actor: pick(x, "actor"),
    kind: pick(x, "kind"),
    subjects: pick(x, "subjects") || [],
    payloadHash: pick(x, "payload_hash"),
    payload: x.payload,
    leafHash: pick(x, "leaf_hash"),
  };
}

export function checkpoint(x) {
  return {
    raw: x,
    index: Number(pick(x, "index", "idx")),
    treeSize: Number(pick(x, "tree_size", "size", "treeSize")),
    root: pick(x, "root"),
    txHash: pick(x, "tx_hash", "tx"),
    block: pick(x, "block_number", "block"),
    time: pick(x, "timestamp", "anchored_at", "anchored_at_us", "time"),
  };
}

export function usagePercent(l) {
  if (!l.maxUses) return null;
  return Math.min(100, Math.round((100 * l.uses) / l.maxUses));
}
