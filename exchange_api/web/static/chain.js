// Read-only JSON-RPC to the chain: the audit view reads the Notary's checkpoints itself instead of
// taking the exchange API's word for them.

import { decode, fragment, selectorOf, topicOf } from "./abi.js";
import { keccak256 } from "./keccak.js";
import { bytesToHex, hexToBytes } from "./merkle.js";
import { trustAnchors } from "./trust.js";

export class ChainError extends Error {}

const utf8 = (s) => new TextEncoder().encode(s);
const selector = (sig) => bytesToHex(keccak256(utf8(sig)).slice(0, 4));
export const CHECKPOINT_ANCHORED_TOPIC = "0x" + bytesToHex(keccak256(utf8("CheckpointAnchored(uint256,uint64,bytes32,uint64)")));
const SEL_ROOT_AT = selector("rootAt(uint256)");
const SEL_DEPLOYMENT_BLOCK = selector("deploymentBlock()");
const SEL_COUNT = selector("checkpointCount()");

const word = (n) => BigInt(n).toString(16).padStart(64, "0");

function words(hex) {
  const clean = hex.replace(/^0x/, "");
  const out = [];
  for (let k = 0; k + 64 <= clean.length; k += 64) out.push(clean.slice(k, k + 64));
  return out;
}

export class ChainReader {
  constructor(rpcUrl, notary) {
    this.rpcUrl = rpcUrl;
    this.notary = (notary || "").toLowerCase();
    this.nextId = 1;
  }

  async call(method, params) {
    let res;
    try {
      res = await fetch(this.rpcUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: this.nextId++, method, params }),
      });
    } catch (err) {
      throw new ChainError(`the chain RPC at ${this.rpcUrl} is unreachable (${err.message})`);
    }
    const body = await res.json().catch(() => null);
    if (!body || body.error) {
      // A revert's data (the custom error, ABI-encoded) rides along, so a caller can name the error.
      throw Object.assign(new ChainError(`${method} failed: ${body && body.error ? body.error.message : `HTTP ${res.status}`}`),
        { data: body?.error?.data });
    }
    return body.result;
  }

  /** Several calls in one JSON-RPC batch (one round trip); results in the order of `calls`. */
  async batch(calls) {
    if (!calls.length) return [];
    const first = this.nextId;
    this.nextId += calls.length;
    const body = calls.map(([method, params], k) => ({ jsonrpc: "2.0", id: first + k, method, params }));
    let res;
    try {
      res = await fetch(this.rpcUrl, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body) });
    } catch (err) {
      throw new ChainError(`the chain RPC at ${this.rpcUrl} is unreachable (${err.message})`);
    }
    const replies = await res.json().catch(() => null);
    if (!Array.isArray(replies)) throw new ChainError(`the chain RPC answered a batch with HTTP ${res.status}`);
    const byId = new Map(replies.map((r) => [r.id, r]));
    return calls.map(([method], k) => {
      const r = byId.get(first + k);
      if (!r || r.error) throw new ChainError(`${method} failed: ${r && r.error ? r.error.message : "no reply"}`);
      return r.result;
    });
  }

  /**
   * The Notary's record of checkpoints `indices`: {treeSize, root (hex), timestamp, blockNumber} each. The Notary
   * stores every root but only the newest size, so sizes and timestamps come from the CheckpointAnchored logs
   * (part of consensus, as trustless as storage), and each log's root must be the stored one. Two round trips
   * however many checkpoints: the stored roots in one batch, then one eth_getLogs for all the indices.
   */
  async checkpoints(indices) {
    if (!indices.length) return [];
    const ethCall = (data) => ["eth_call", [{ to: this.notary, data: `0x${data}` }, "latest"]];
    const [deployed, ...roots] = await this.batch([ethCall(SEL_DEPLOYMENT_BLOCK),
      ...indices.map((i) => ethCall(`${SEL_ROOT_AT}${word(i)}`))]);
    const logs = await this.call("eth_getLogs", [{ address: this.notary, fromBlock: `0x${BigInt(deployed).toString(16)}`,
      toBlock: "latest", topics: [CHECKPOINT_ANCHORED_TOPIC, indices.map((i) => `0x${word(i)}`)] }]);
    const byIndex = new Map();
    for (const log of logs || []) {
      if (log.removed) continue;
      const i = Number(BigInt(log.topics[1]));
      byIndex.set(i, [...(byIndex.get(i) || []), log]);
    }
    return indices.map((i, k) => {
      const stored = words(roots[k] || "0x")[0];
      if (!stored) throw new ChainError(`Notary.rootAt(${i}) returned no root`);
      const found = byIndex.get(i) || [];
      if (found.length !== 1) {
        throw new ChainError(`the chain returned ${found.length} CheckpointAnchored logs for checkpoint #${i}`);
      }
      const w = words(found[0].data);
      if (w.length < 3 || w[1] !== stored) {
        throw new ChainError(`the log of checkpoint #${i} disagrees with the root the Notary stores (${stored.slice(0, 12)}…)`);
      }
      return { treeSize: Number(BigInt(`0x${w[0]}`)), root: stored, timestamp: Number(BigInt(`0x${w[2]}`)),
        blockNumber: Number(BigInt(found[0].blockNumber)) };
    });
  }

  /** CheckpointAnchored events of many transactions in one batch (see `anchoredEvent`). */
  async anchoredEvents(txHashes) {
    const receipts = await this.batch(txHashes.map((t) => ["eth_getTransactionReceipt", [t]]));
    return receipts.map((r) => this.eventOf(r));
  }

  async checkpointCount() {
    return Number(BigInt(await this.call("eth_call", [{ to: this.notary, data: `0x${SEL_COUNT}` }, "latest"])));
  }

  /** The Notary's record of checkpoint `index`: {treeSize, root (hex), timestamp, blockNumber} (see `checkpoints`). */
  async checkpoint(index) {
    return (await this.checkpoints([index]))[0];
  }

  /** The CheckpointAnchored event of transaction `txHash`, or null when it carries none from the Notary. */
  async anchoredEvent(txHash) {
    return this.eventOf(await this.call("eth_getTransactionReceipt", [txHash]));
  }

  eventOf(receipt) {
    if (!receipt) return null;
    const ok = receipt.status === undefined || Number(receipt.status) === 1;
    for (const log of receipt.logs || []) {
      if (log.address.toLowerCase() !== this.notary || log.topics[0] !== CHECKPOINT_ANCHORED_TOPIC) continue;
      const w = words(log.data);
      return { ok, index: Number(BigInt(log.topics[1])), treeSize: Number(BigInt(`0x${w[0]}`)), root: w[1],
        blockNumber: Number(BigInt(receipt.blockNumber)) };
    }
    return null;
  }
}

/** Contract addresses the server put in the page (from its deployment file), by contract name. */
export function contracts() {
  try {
    return JSON.parse(document.body.dataset.contracts || "{}");
  } catch {
    return {};
  }
}

/** A reader for the user's own trust anchors when set, else the server's chain; null when neither has an RPC. */
export function pageChain() {
  const anchors = trustAnchors();
  if (anchors) return new ChainReader(anchors.rpcUrl, anchors.notary);
  const { rpcUrl } = document.body.dataset;
  const notary = contracts().Notary || document.body.dataset.notary;
  return rpcUrl ? new ChainReader(rpcUrl, notary || "") : null;
}

/** The listing event of `kind` #id in `block` on the Market: {txHash, owner, block}, or null. */
export async function findListingEvent(reader, market, kind, id, block) {
  const event = fragment(await contractAbi("Market"), "event", kind === "algorithm" ? "AlgorithmListed" : "DatasetListed");
  const at = `0x${Number(block).toString(16)}`;
  const logs = await reader.call("eth_getLogs", [{ address: market, fromBlock: at, toBlock: at,
    topics: [topicOf(event), `0x${word(id)}`] }]);
  if (!logs || !logs.length) return null;
  const log = logs[0];
  return { txHash: log.transactionHash, owner: `0x${log.topics[2].slice(-40)}`, block: Number(BigInt(log.blockNumber)) };
}

/**
 * The Market's own record of a listing: {owner, pricePerUse, maxUses, uses, status, commitment, policyHash},
 * read with eth_call and decoded by the Market ABI's field names.
 */
export async function readListing(reader, market, kind, id) {
  const r = (await callView(reader, market, "Market", kind === "algorithm" ? "algorithm" : "dataset", id))["0"];
  return { owner: r.owner, pricePerUse: r.pricePerUse.toString(), maxUses: Number(r.maxUses), uses: Number(r.uses),
    status: Number(r.status), commitment: (kind === "algorithm" ? r.codeHash : r.manifestHash).replace(/^0x/, ""),
    policyHash: r.policyHash ?? null };
}

/** The chain id the RPC serves. */
export async function rpcChainId(reader) {
  return Number(BigInt(await reader.call("eth_chainId", [])));
}

const abis = new Map();

/** A contract's ABI, served with the console's code (the same trust as the code that reads it). */
export async function contractAbi(name) {
  if (!abis.has(name)) {
    const prefix = document.body.dataset.prefix || "/console";
    abis.set(name, fetch(`${prefix}/abi/${name}.json`).then(async (res) => {
      if (!res.ok) throw new ChainError(`the console could not load the ${name} ABI (HTTP ${res.status})`);
      return res.json();
    }).catch((err) => {
      abis.delete(name);
      throw err instanceof ChainError ? err : new ChainError(`the console could not load the ${name} ABI (${err.message})`);
    }));
  }
  return abis.get(name);
}

/** eth_call of view function `name` with unsigned integer / address arguments; its outputs by name. */
export async function callView(reader, address, contract, name, ...args) {
  const fn = fragment(await contractAbi(contract), "function", name);
  const data = selectorOf(fn) + args.map((a) => (typeof a === "string" && a.startsWith("0x")
    ? a.slice(2).toLowerCase().padStart(64, "0") : word(a))).join("");
  const out = await reader.call("eth_call", [{ to: address, data: `0x${data}` }, "latest"]);
  if (!out || out === "0x") throw new ChainError(`${contract}.${name} at ${address} returned nothing (is it deployed there?)`);
  return decode(fn.outputs, out);
}

/**
 * A job's terms as its JobRequested event on ComputeJobs `computeJobs` records them (logs are part of
 * consensus): {terms, deadline, buyer, block}. Only the terms' hash is in storage, so the event is the record.
 */
export async function jobTerms(reader, computeJobs, jobId) {
  const event = fragment(await contractAbi("ComputeJobs"), "event", "JobRequested");
  const logs = (await reader.call("eth_getLogs", [{ address: computeJobs, fromBlock: "0x0", toBlock: "latest",
    topics: [topicOf(event), `0x${word(jobId)}`] }]) || []).filter((l) => !l.removed);
  if (logs.length !== 1) {
    throw new ChainError(`ComputeJobs at ${computeJobs} has ${logs.length} JobRequested events for job ${jobId}`);
  }
  const values = decode(event.inputs.filter((p) => !p.indexed), logs[0].data);
  return { ...values, buyer: `0x${logs[0].topics[2].slice(-40)}`, block: Number(BigInt(logs[0].blockNumber)) };
}

const B32 = "abcdefghijklmnopqrstuvwxyz234567";

/** The CIDv1 (raw codec, sha2-256, base32) of content whose sha256 is `digestHex` (dx_core.cid). */
export function cidFromDigest(digestHex) {
  const bytes = [0x01, 0x55, 0x12, 0x20, ...hexToBytes(digestHex)];
  if (bytes.length !== 36) throw new ChainError(`a sha2-256 digest has 32 bytes, not ${bytes.length - 4}`);
  let bits = 0;
  let value = 0;
  let out = "b";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

const MICRO_EPS = 1000000n;

/** Exact decimal ε of an integer micro-ε amount ("0.4", "1.0"), as `dx` prints it: no float rounding. */
export function formatEps(micro) {
  const m = BigInt(micro);
  const frac = (m % MICRO_EPS).toString().padStart(6, "0").replace(/0+$/, "") || "0";
  return `${m / MICRO_EPS}.${frac}`;
}

/** Market.privacyBudgetOf(datasetId) as BigInt micro-ε: {total, perJob, spent, left, enabled}. */
export async function privacyBudget(reader, market, datasetId) {
  const r = await callView(reader, market, "Market", "privacyBudgetOf", datasetId);
  const [total, perJob, spent] = [BigInt(r.total), BigInt(r.perJob), BigInt(r.spent)];
  return { total, perJob, spent, left: total > spent ? total - spent : 0n, enabled: total > 0n };
}

/** A budget in the words `dx dataset show` uses: "ε 1.0 total, 0.4 per job, 0.4 spent, 0.6 left". */
export function budgetLine(b) {
  return `ε ${formatEps(b.total)} total, ${formatEps(b.perJob)} per job, ${formatEps(b.spent)} spent, ` +
    `${formatEps(b.left)} left`;
}

/**
 * Dataset `datasetId`'s EpsilonReserved and EpsilonReleased events on the Market, oldest first:
 * [{event, jobId, microEps, spent, block, txHash}] (logs are part of consensus, like storage).
 */
export async function epsilonEvents(reader, market, datasetId) {
  const abi = await contractAbi("Market");
  const events = ["EpsilonReserved", "EpsilonReleased"].map((n) => fragment(abi, "event", n));
  const byTopic = new Map(events.map((e) => [topicOf(e), e]));
  const logs = (await reader.call("eth_getLogs", [{ address: market, fromBlock: "0x0", toBlock: "latest",
    topics: [[...byTopic.keys()], null, `0x${word(datasetId)}`] }]) || []).filter((l) => !l.removed);
  return logs.map((log) => {
    const ev = byTopic.get(log.topics[0]);
    const v = decode(ev.inputs.filter((p) => !p.indexed), log.data);
    return { event: ev.name, jobId: BigInt(log.topics[1]), microEps: BigInt(v.microEps), spent: BigInt(v.spent),
      block: Number(BigInt(log.blockNumber)), txHash: log.transactionHash };
  });
}

/** Ids of the datasets whose owner ever set a privacy budget on the Market (its PrivacyBudgetSet events). */
export async function budgetedDatasetIds(reader, market) {
  const event = fragment(await contractAbi("Market"), "event", "PrivacyBudgetSet");
  const logs = (await reader.call("eth_getLogs", [{ address: market, fromBlock: "0x0", toBlock: "latest",
    topics: [topicOf(event)] }]) || []).filter((l) => !l.removed);
  return [...new Set(logs.map((l) => BigInt(l.topics[1]).toString()))].map(Number).sort((a, b) => a - b);
}
