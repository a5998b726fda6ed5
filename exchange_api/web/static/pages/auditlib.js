// Shared pieces of the regulator's views: checkpoints verified against the chain, verdict badges.

import { api } from "../api.js";
import { ChainError, ChainReader, rpcChainId } from "../chain.js";
import { badge } from "../dom.js";
import { trustAnchors } from "../trust.js";
import { verifyCheckpoints } from "../verify.js";

export const NO_ANCHORS = "you have not set your trust anchors (chain RPC and Notary address) in this browser";

/** A reader for the regulator's own trust anchors only: never the RPC or Notary the audited API names. */
export function chainReader() {
  const anchors = trustAnchors();
  return anchors ? new ChainReader(anchors.rpcUrl, anchors.notary) : null;
}

/** Checkpoints from the API, each re-checked against the Notary contract and the previous checkpoint. */
export async function loadCheckpoints() {
  const data = await api("/audit/checkpoints", { exact: true });
  const chain = chainReader();
  let chainError = chain ? null : NO_ANCHORS;
  let result;
  try {
    if (chain) {
      const served = await rpcChainId(chain);
      const anchors = trustAnchors();
      if (served !== anchors.chainId) {
        throw new ChainError(`your RPC ${anchors.rpcUrl} serves chain ${served}, not your chain ${anchors.chainId}`);
      }
    }
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
