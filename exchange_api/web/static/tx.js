// The console's transaction path: ABI-encode a contract call, have the wallet sign and send it (EIP-1193
// eth_sendTransaction, as with any wallet), wait for its receipt on the chain RPC, and name the contract's
// custom error when it reverts. The key never enters the page: only calldata goes out, a hash comes back.

import { decode, encodeCall, fragment, selectorOf } from "./abi.js";
import { ChainError, contractAbi, contracts, pageChain } from "./chain.js";
import { currentAccount, sendTransaction, walletChainId } from "./wallet.js";

/** A transaction the chain refused (or would refuse): `errorName` and `args` are the decoded custom error. */
export class TxError extends Error {
  constructor(message, { errorName = null, args = {}, contract = null, txHash = null } = {}) {
    super(message);
    this.errorName = errorName;
    this.args = args;
    this.contract = contract;
    this.txHash = txHash;
  }
}

// A revert bubbles up from the contract that raised it (ComputeJobs.request reverts with Market's errors when
// the quote fails), so every contract's errors are candidates.
const ERROR_SOURCES = ["ComputeJobs", "Market", "Registry", "Notary"];
const ERROR_STRING = "08c379a0";
const PANIC = "4e487b71";
const RECEIPT_POLL_MS = 400;
const RECEIPT_WAIT_MS = 180_000;

const plain = (v) => (typeof v === "bigint" ? v.toString() : v);

// Sentences for the errors a member meets in the console's flows; any other error is shown by name and arguments.
const WORDS = {
  UsageLimitReached: (a) => `dataset #${a.listingId} has been used ${a.uses} of its ${a.maxUses} allowed times`,
  AlgorithmUsageLimitReached: (a) => `algorithm #${a.algorithmId} has been used ${a.uses} of its ${a.maxUses} allowed times`,
  WrongPayment: (a) => `the escrow must be exactly ${a.expected} wei, ${a.received} wei was sent`,
  DatasetNotActive: (a) => `dataset #${a.datasetId} is not active (delisted or its owner suspended)`,
  AlgorithmNotActive: (a) => `algorithm #${a.algorithmId} is not active`,
  DatasetNotFound: (a) => `there is no dataset #${a.datasetId}`,
  AlgorithmNotFound: (a) => `there is no algorithm #${a.algorithmId}`,
  DatasetExpired: (a) => `dataset #${a.datasetId} expired at ${new Date(Number(a.expiresAt) * 1000).toISOString()}`,
  DuplicateDataset: (a) => `dataset #${a.datasetId} is named twice`,
  DeadlineInPast: (a) => `the deadline ${new Date(Number(a.deadline) * 1000).toISOString()} is already past`,
  NotActiveMember: (a) => `${a.account} is not an active member with role ${a.role}`,
  InvalidResultReceiver: (a) => `${a.receiver} may not receive the result (the buyer itself or a regulator only)`,
  ResultKeyMismatch: (a) => `the result key is not the one ${a.receiver} registered`,
  NotListingOwner: (a) => `${a.caller} does not own listing #${a.listingId}`,
  NotBuyer: (a) => `${a.caller} is not the buyer of job #${a.jobId}`,
  NothingToWithdraw: (a) => `${a.account} has nothing to withdraw`,
  DeadlineNotReached: (a) => `job #${a.jobId} is still within its deadline`,
  InvalidStatus: (a) => `job #${a.jobId} is not in a state that allows this`,
};

/** The custom error in revert `data`: {errorName, args, contract, words}, or null when there is none to decode. */
export async function decodeRevert(data, contractNames = ERROR_SOURCES) {
  const hex = String(data || "").replace(/^0x/, "").toLowerCase();
  if (hex.length < 8) return null;
  const sel = hex.slice(0, 8);
  const body = hex.slice(8);
  if (sel === ERROR_STRING) {
    const { reason } = decode([{ name: "reason", type: "string" }], body);
    return { errorName: "Error", args: { reason }, contract: null, words: reason };
  }
  if (sel === PANIC) {
    const { code } = decode([{ name: "code", type: "uint256" }], body);
    return { errorName: "Panic", args: { code: code.toString() }, contract: null, words: `panic 0x${code.toString(16)}` };
  }
  for (const name of contractNames) {
    let abi;
    try {
      abi = await contractAbi(name);
    } catch {
      continue; // a contract this deployment does not serve cannot have raised it
    }
    const fn = abi.find((x) => x.type === "error" && selectorOf(x) === sel);
    if (!fn) continue;
    const raw = decode(fn.inputs, body);
    const args = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, plain(v)]));
    const said = WORDS[fn.name] ? WORDS[fn.name](args) : "";
    const listed = Object.entries(args).map(([k, v]) => `${k}=${v}`).join(", ");
    return { errorName: fn.name, args, contract: name, words: said || `${fn.name}(${listed})` };
  }
  return { errorName: null, args: {}, contract: null, words: `unknown revert data 0x${hex.slice(0, 8)}…` };
}

async function revertError(what, data, fallback, txHash = null) {
  const found = await decodeRevert(data);
  if (!found) return new TxError(`${what} was refused by the chain: ${fallback}`, { txHash });
  const origin = found.contract ? `${found.contract}.${found.errorName}` : found.errorName || "revert";
  return new TxError(`${what} was refused by the chain (${origin}): ${found.words}`, { ...found, txHash });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/**
 * Call `functionName` of the deployment's `contractName` with `args` (tuples as objects keyed by field name),
 * signed and sent by the wallet; `value` in wei. Resolves {txHash, receipt} once the transaction is mined and
 * succeeded; throws a TxError naming the contract's custom error when it would revert (checked with eth_call
 * first, so no gas is spent on a doomed transaction) or did. `onStatus(text)` hears each step.
 */
export async function sendContractTx(contractName, functionName, args, { value = 0n, onStatus = () => {} } = {}) {
  const what = `${contractName}.${functionName}`;
  const to = contracts()[contractName];
  if (!to) throw new TxError(`${what}: the server's deployment names no ${contractName} address`);
  const reader = pageChain();
  if (!reader) throw new TxError(`${what}: the console knows no chain RPC to send through`);
  const fn = fragment(await contractAbi(contractName), "function", functionName);
  const data = encodeCall(fn, args);
  const valueHex = `0x${BigInt(value).toString(16)}`;
  const from = await currentAccount();
  const [walletChain, rpcChain] = [await walletChainId(), Number(BigInt(await reader.call("eth_chainId", [])))];
  if (walletChain !== rpcChain) {
    throw new TxError(`${what}: the wallet is on chain ${walletChain}, the exchange's contracts on chain ${rpcChain}`);
  }
  const call = { from, to, data, value: valueHex };
  try {
    await reader.call("eth_call", [call, "latest"]);
  } catch (err) {
    if (!(err instanceof ChainError)) throw err;
    throw await revertError(what, err.data, err.message);
  }
  onStatus("Waiting for your wallet to sign the transaction…");
  const { txHash } = await sendTransaction({ to, data, value: valueHex });
  onStatus(`Transaction ${txHash} sent; waiting for it to be mined…`);
  const until = Date.now() + RECEIPT_WAIT_MS;
  let receipt = null;
  while (!(receipt = await reader.call("eth_getTransactionReceipt", [txHash]))) {
    if (Date.now() > until) {
      throw new TxError(`${what}: transaction ${txHash} was not mined within ${RECEIPT_WAIT_MS / 1000} s`, { txHash });
    }
    await sleep(RECEIPT_POLL_MS);
  }
  if (Number(receipt.status) !== 1) {
    // A receipt carries no revert data: replaying the call recovers it. The usual cause of a revert that the
    // preflight missed is a transaction mined before it in the same block, so the block's own state comes first.
    let revertData = null;
    const block = BigInt(receipt.blockNumber);
    for (const at of [block, block - 1n]) {
      try {
        await reader.call("eth_call", [call, `0x${at.toString(16)}`]);
      } catch (err) {
        revertData = err.data;
        if (revertData) break;
      }
    }
    throw await revertError(what, revertData, `transaction ${txHash} reverted (the chain gives no reason)`, txHash);
  }
  return { txHash, receipt };
}
