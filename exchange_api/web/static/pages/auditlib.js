// Shared pieces of the regulator's views: checkpoints verified against the chain, verdict badges.

import { api } from "../api.js";
import { ChainReader } from "../chain.js";
import { badge } from "../dom.js";
import { verifyCheckpoints } from "../verify.js";

export function chainReader() {
  const { rpcUrl, notary } = document.body.dataset;
  return rpcUrl && notary ? new ChainReader(rpcUrl, notary) : null;
}

/** Checkpoints from the API, each re-checked against the Notary contract and the previous checkpoint. */
export async function loadCheckpoints() {
  const data = await api("/audit/checkpoints", { exact: true });
  const chain = chainReader();
  let chainError = chain ? null : "the page has no chain RPC URL and Notary address to check against";
  let result;
  try {
    result = await verifyCheckpoints(data.checkpoints || [], chain);
  } catch (err) {
    chainError = err.message;
    result = await verifyCheckpoints(data.checkpoints || [], null);
    for (const v of result.verdicts) {
      v.ok = false;
      v.problems.unshift(`not checked on-chain: ${err.message}`);
    }
  }
  if (!chain) {
    for (const v of result.verdicts) {
      v.ok = false;
      v.problems.unshift(`not checked on-chain: ${chainError}`);
    }
  }
  const trusted = new Map(result.verdicts.filter((v) => v.ok).map((v) => [v.index, v]));
  return { size: Number(data.size), verdicts: result.verdicts, chainCount: result.chainCount, trusted, chainError };
}

export function verdictBadge(v) {
  if (v.ok) return badge("ok", "Verified");
  return badge("bad", "Failed");
}

export function entryBadge(r) {
  if (r.state === "ok") return badge("ok", "Proved");
  if (r.state === "pending") return badge("pending", "Not yet anchored");
  return badge("bad", "Tampered or unproved");
}
