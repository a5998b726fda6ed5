// Read-only JSON-RPC to the chain: the audit view reads the Notary's checkpoints itself instead of
// taking the exchange API's word for them.

import { keccak256 } from "./keccak.js";
import { bytesToHex } from "./merkle.js";

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
      throw new ChainError(`${method} failed: ${body && body.error ? body.error.message : `HTTP ${res.status}`}`);
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

const LISTED_TOPICS = {
  dataset: "0x" + bytesToHex(keccak256(utf8("DatasetListed(uint256,address,(string,bytes32,uint256,uint32,uint40,uint32))"))),
  algorithm: "0x" + bytesToHex(keccak256(utf8(
    "AlgorithmListed(uint256,address,string,string,bytes32,string,uint256,bytes32,uint32)"))),
};

/** Contract addresses the server put in the page (from its deployment file), by contract name. */
export function contracts() {
  try {
    return JSON.parse(document.body.dataset.contracts || "{}");
  } catch {
    return {};
  }
}

/** A reader for the page's configured chain, or null when the page has no RPC URL or Notary address. */
export function pageChain() {
  const { rpcUrl } = document.body.dataset;
  const notary = contracts().Notary || document.body.dataset.notary;
  return rpcUrl ? new ChainReader(rpcUrl, notary || "") : null;
}

/** The listing event of `kind` #id in `block` on the Market: {txHash, owner, block}, or null. */
export async function findListingEvent(reader, market, kind, id, block) {
  const at = `0x${Number(block).toString(16)}`;
  const logs = await reader.call("eth_getLogs", [{ address: market, fromBlock: at, toBlock: at,
    topics: [LISTED_TOPICS[kind], `0x${word(id)}`] }]);
  if (!logs || !logs.length) return null;
  const log = logs[0];
  return { txHash: log.transactionHash, owner: `0x${log.topics[2].slice(-40)}`, block: Number(BigInt(log.blockNumber)) };
}

const SEL_DATASET = selector("dataset(uint256)");
const SEL_ALGORITHM = selector("algorithm(uint256)");

/**
 * The Market's own record of a listing: {owner, pricePerUse, maxUses, uses, status, commitment}, read with
 * eth_call. The record is a tuple with a string in it, so its static fields follow one offset word.
 */
export async function readListing(reader, market, kind, id) {
  const sel = kind === "algorithm" ? SEL_ALGORITHM : SEL_DATASET;
  const w = words(await reader.call("eth_call", [{ to: market, data: `0x${sel}${word(id)}` }, "latest"]));
  const n = (k) => BigInt(`0x${w[1 + k]}`);
  if (w.length < 10) throw new ChainError(`Market.${kind}(${id}) returned no record`);
  const fields = kind === "algorithm"
    ? { price: 1, maxUses: 2, uses: 3, status: 4, commitment: 5 }
    : { price: 2, maxUses: 3, uses: 4, status: 6, commitment: 8 };
  return { owner: `0x${w[1].slice(-40)}`, pricePerUse: n(fields.price).toString(), maxUses: Number(n(fields.maxUses)),
    uses: Number(n(fields.uses)), status: Number(n(fields.status)), commitment: w[1 + fields.commitment] };
}
