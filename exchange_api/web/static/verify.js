// The regulator's checks, all computed in the browser: checkpoints against the chain and against each
// other (consistency proofs), and each log entry against an anchored root (inclusion proofs).

import { canonicalBytes, canonicalJson, RawNumber } from "./canonical.js";
import { bytesToHex, hexToBytes, leafHash, sha256, verifyConsistency, verifyInclusion } from "./merkle.js";

const num = (v) => (v instanceof RawNumber ? Number(v.text) : Number(v));
const hex = (v) => String(v || "").toLowerCase().replace(/^0x/, "");

/** The problem an entry has when its checkpoint failed: it is unproved rather than shown to be altered. */
export const UNVERIFIED_CHECKPOINT = (i) => `its proof names checkpoint #${i}, which did not verify against the chain`;
export const isUnprovedOnly = (r) => r.problems.length > 0
  && r.problems.every((p) => p.includes("which did not verify against the chain"));

/** The bytes of leaf `seq`, rebuilt from the entry's fields (notarizer.entry.entry_leaf_bytes). */
export function entryLeafBytes(e) {
  return canonicalBytes({ actor: e.actor, kind: e.kind, payload_hash: e.payload_hash, seq: e.seq,
    subjects: e.subjects, time: e.time });
}

/**
 * Check checkpoints (newest last) from GET /audit/checkpoints. `chain` is a ChainReader or null.
 * Returns one verdict per checkpoint: {index, treeSize, root, ok, onchain: bool|null, problems: [...]}.
 */
export async function verifyCheckpoints(checkpoints, chain) {
  const verdicts = [];
  let chainCount = null;
  let records = new Map();
  let events = new Map();
  if (chain) {
    chainCount = await chain.checkpointCount();
    // A fixed number of batched round trips for the whole list, however many checkpoints there are.
    const onchainIndices = checkpoints.map((cp) => num(cp.index)).filter((i) => i < chainCount);
    const fetched = await chain.checkpoints(onchainIndices);
    records = new Map(onchainIndices.map((i, k) => [i, fetched[k]]));
    const txs = [...new Set(checkpoints.map((cp) => cp.tx_hash).filter(Boolean))];
    const evs = await chain.anchoredEvents(txs);
    events = new Map(txs.map((t, k) => [t, evs[k]]));
  }
  let previous = null;
  for (const cp of checkpoints) {
    const index = num(cp.index);
    const treeSize = num(cp.tree_size);
    const root = hex(cp.root);
    const problems = [];
    let onchain = null;
    if (chain) {
      if (index >= chainCount) {
        problems.push(`the Notary holds only ${chainCount} checkpoints; #${index} is not on-chain`);
        onchain = false;
      } else {
        const rec = records.get(index);
        onchain = rec.treeSize === treeSize && rec.root === root;
        if (!onchain) {
          problems.push(`the Notary records size ${rec.treeSize} root ${rec.root.slice(0, 12)}…, ` +
            `the log claims size ${treeSize} root ${root.slice(0, 12)}…`);
        }
        if (cp.tx_hash) {
          const ev = events.get(cp.tx_hash);
          if (!ev || !ev.ok || ev.index !== index || ev.treeSize !== treeSize || ev.root !== root) {
            problems.push(`transaction ${cp.tx_hash} does not anchor checkpoint #${index}`);
            onchain = false;
          } else if (cp.block_number !== null && cp.block_number !== undefined
            && ev.blockNumber !== num(cp.block_number)) {
            problems.push(`transaction was mined in block ${ev.blockNumber}, not ${num(cp.block_number)}`);
            onchain = false;
          }
        }
      }
    }
    if (previous) {
      const proof = cp.consistency_from_previous;
      if (!proof || num(proof.from_size) !== previous.treeSize) {
        problems.push(`no consistency proof from the previous checkpoint (size ${previous.treeSize})`);
      } else {
        const consistent = await verifyConsistency(previous.treeSize, treeSize, hexToBytes(previous.root),
          hexToBytes(root), proof.proof.map(hexToBytes));
        if (!consistent) {
          problems.push(`size ${treeSize} does not extend checkpoint #${previous.index} (size ${previous.treeSize}): ` +
            "the log was rewritten");
        }
      }
    }
    const opt = (v) => (v === null || v === undefined ? null : num(v));
    const verdict = { index, treeSize, root, txHash: cp.tx_hash, block: opt(cp.block_number), time: opt(cp.anchored_at),
      onchain, ok: problems.length === 0 && onchain !== false, problems };
    verdicts.push(verdict);
    previous = verdict;
  }
  return { verdicts, chainCount };
}

/**
 * Check entries (parsed with parseExact) against checkpoints that were verified (`trusted`: Map index ->
 * verdict with ok === true). Each result: {seq, kind, actor, state: ok|bad|pending, problems: [...]}.
 */
export async function verifyEntries(entries, trusted) {
  const results = [];
  for (const e of entries) {
    const seq = num(e.seq);
    const problems = [];
    let state = "ok";
    const leaf = await leafHash(entryLeafBytes(e));
    if (e.leaf_hash && hex(e.leaf_hash) !== bytesToHex(leaf)) {
      problems.push(`its fields hash to leaf ${bytesToHex(leaf).slice(0, 12)}…, not the log's ` +
        `${hex(e.leaf_hash).slice(0, 12)}…: the entry was altered after it was logged`);
    }
    if (e.payload !== null && e.payload !== undefined) {
      const digest = bytesToHex(await sha256(new TextEncoder().encode(canonicalJson(e.payload))));
      if (digest !== hex(e.payload_hash)) {
        problems.push(`its payload hashes to ${digest.slice(0, 12)}…, not the logged ${hex(e.payload_hash).slice(0, 12)}…`);
      }
    }
    const inc = e.inclusion;
    if (!inc) {
      state = "pending";
      problems.push("not yet covered by an anchored checkpoint");
    } else {
      const cpIndex = num(inc.checkpoint);
      const cp = trusted.get(cpIndex);
      if (!cp) {
        problems.push(UNVERIFIED_CHECKPOINT(cpIndex));
      } else if (cp.treeSize !== num(inc.tree_size) || cp.root !== hex(inc.root)) {
        problems.push(`its proof is against size ${num(inc.tree_size)}, root ${hex(inc.root).slice(0, 12)}…, ` +
          `which is not anchored checkpoint #${cpIndex}`);
      } else if (!(await verifyInclusion(seq, cp.treeSize, leaf, inc.audit_path.map(hexToBytes),
        hexToBytes(cp.root)))) {
        problems.push(`its inclusion proof does not lead to the anchored root of checkpoint #${cpIndex}`);
      }
    }
    if (problems.length && state !== "pending") state = "bad";
    if (state === "pending" && problems.length > 1) state = "bad";
    results.push({ seq, kind: e.kind, actor: e.actor, time: num(e.time), subjects: e.subjects, payload: e.payload,
      checkpoint: inc ? num(inc.checkpoint) : null, state, problems });
  }
  return results;
}
