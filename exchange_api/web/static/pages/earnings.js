// Earnings: the signed-in member's balance on ComputeJobs (read from the chain), what each job credited it,
// the Withdraw button, and the buyer's jobs past their deadline with a "Reclaim escrow" button. Every button
// is a transaction the wallet signs; the page never holds a key.

import { api } from "../api.js";
import { callView, ChainReader, jobTerms } from "../chain.js";
import { badge, dl, emptyState, errorState, formatTime, formatWei, gate, h, hexCode, put, table } from "../dom.js";
import { sendContractTx } from "../tx.js";
import { statusBadge } from "./jobs.js";
import { jobsAnchor } from "./seller.js";

const short = (a) => (a ? `${String(a).slice(0, 8)}…${String(a).slice(-4)}` : "—");
const STATUS_NAMES = ["none", "requested", "authorized", "completed", "disputed", "declined", "refunded", "refused"];

/** What a contract's custom error means, in words, by the ABI's argument names. */
const WORDS = {
  NotListingOwner: (a) => `only the owner of listing #${a.listingId} may change it, and ${short(a.caller)} is not its owner`,
  DatasetNotActive: (a) => `dataset #${a.datasetId} is not active (delisted): it cannot be changed`,
  DatasetNotFound: (a) => `there is no dataset #${a.datasetId} on the Market`,
  MaxUsesBelowUses: (a) => `the use limit ${a.maxUses} is below the ${a.uses} uses listing #${a.listingId} has already had`,
  ExpiryInPast: (a) => `the expiry ${formatTime(Number(a.expiresAt))} is not in the future by the chain's clock`,
  PriceTooLarge: (a) => `the price ${a.price} wei is above the largest price a listing can hold (2^96 − 1 wei)`,
  NotBuyer: (a) => `only the buyer of job ${a.jobId} may reclaim its escrow, and ${short(a.caller)} did not buy it`,
  DeadlineNotReached: (a) => `job ${a.jobId}'s deadline ${formatTime(Number(a.deadline))} has not passed yet ` +
    `(chain time ${formatTime(Number(a.nowTimestamp))})`,
  InvalidStatus: (a) => `job ${a.jobId} is ${STATUS_NAMES[Number(a.status)] || `in status ${a.status}`}: ` +
    "only a requested or authorized job can be reclaimed",
  TermsMismatch: (a) => `the terms sent for job ${a.jobId} are not the ones it was requested with`,
  JobNotFound: (a) => `there is no job ${a.jobId} on ComputeJobs`,
  NothingToWithdraw: (a) => `${short(a.account)} has no credited balance to withdraw`,
  TransferFailed: (a) => `the payout of ${formatWei(a.amount)} to ${short(a.account)} was refused by the receiving account`,
  AccessControlUnauthorizedAccount: (a) => `${short(a.account)} is not the exchange's operator: only the operator ` +
    "(the Registry's admin) may do this",
  AlreadySuspended: (a) => `${short(a.account)} is already suspended`,
  NotSuspended: (a) => `${short(a.account)} is not suspended, so there is nothing to reinstate`,
  NotMember: (a) => `${short(a.account)} is not a member of the exchange`,
};

/** {name, args} of the custom error a failed transaction reverted with, or null when it names none. */
export function revertOf(err) {
  const e = err && (err.contractError || err.customError || err.revert || err.decoded);
  if (e && e.name) return { name: e.name, args: e.args || {} };
  if (err && err.errorName) return { name: err.errorName, args: err.errorArgs || err.args || {} };
  const m = String((err && err.message) || "").match(/\b([A-Z][A-Za-z0-9]+)\(/);
  return m && WORDS[m[1]] ? { name: m[1], args: {} } : null;
}

/** The failure in words: what the contract refused and why, naming the contract error, else the message. */
export function revertInWords(err) {
  const r = revertOf(err);
  if (r && WORDS[r.name]) {
    try {
      return `Refused by the contract (${r.name}): ${WORDS[r.name](r.args)}.`;
    } catch {
      // arguments the words do not expect: the error's name and the raw message still say what happened
    }
  }
  return (err && err.message) || String(err);
}

/**
 * A button that sends one transaction through the wallet, with its outcome beside it: progress, then the
 * transaction hash, or the contract's refusal in words. `send` returns sendContractTx's {txHash, receipt};
 * `done(result)` (optional) runs after a success and returns a sentence to add.
 */
export function txButton(label, send, { id, done, danger = false, again = false, name } = {}) {
  const out = h("div", { class: "tx-outcome", "aria-live": "polite" });
  // `name`: the accessible name when the visible label alone is ambiguous (one "Suspend" per table row).
  const button = h("button", { type: "button", class: danger ? "button button-danger" : "button", id,
    "aria-label": name }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    out.replaceChildren(h("p", { class: "muted", role: "status" }, "Waiting for your wallet to sign and the chain to confirm…"));
    try {
      const result = await send();
      const { txHash } = result;
      const extra = done ? await done(result) : "";
      out.replaceChildren(h("p", { class: "tx-ok", role: "status" }, badge("ok", "Confirmed"),
        " in transaction ", hexCode(txHash, 8), extra ? ` ${extra}` : ""));
      // A one-off (a withdrawal, a reclaim) stays done; a form may be sent again with new values.
      if (again) button.disabled = false;
    } catch (err) {
      out.replaceChildren(h("p", { class: "error", role: "alert" }, revertInWords(err)));
      button.disabled = false;
    }
  });
  return h("div", { class: "tx-control" }, button, out);
}

function chainOrNull() {
  const anchor = jobsAnchor();
  return anchor ? { reader: new ChainReader(anchor.rpcUrl, ""), computeJobs: anchor.computeJobs } : null;
}

/** The account's credited balance on ComputeJobs, from the chain (wei, as a BigInt). */
export async function chainBalance(address) {
  const c = chainOrNull();
  if (!c) throw new Error("this page knows no chain RPC and ComputeJobs contract: set your trust anchors");
  return (await callView(c.reader, c.computeJobs, "ComputeJobs", "balanceOf", address))["0"];
}

/** Reclaim job `jobId`'s escrow with the terms its JobRequested event records (the contract checks them). */
export async function reclaimJob(jobId) {
  const c = chainOrNull();
  if (!c) throw new Error("this page knows no chain RPC and ComputeJobs contract: set your trust anchors");
  const { terms } = await jobTerms(c.reader, c.computeJobs, jobId);
  return sendContractTx("ComputeJobs", "reclaim", [BigInt(jobId), terms]);
}

/** The Reclaim button of one job (exported so a test can offer it where the page would not). */
export function reclaimControl(jobId, onDone) {
  return txButton(`Reclaim escrow of job ${jobId}`, () => reclaimJob(jobId), {
    id: `reclaim-${jobId}`,
    done: async () => {
      if (onDone) await onDone();
      return "The escrow is credited to your balance above: withdraw it to move it to your wallet.";
    },
  });
}

function balanceView(wei) {
  return h("p", { class: "balance" }, h("span", { id: "balance", "data-wei": wei.toString() }, formatWei(wei.toString())),
    h("span", { class: "muted" }, " withdrawable, read from ComputeJobs.balanceOf on the chain"));
}

export async function render(main, _params, { session, link }) {
  if (!gate(main, session, "Earnings", "Sign in with the wallet that earned (or escrowed) the funds to see them.")) {
    return;
  }
  const me = session.address;
  put(main, h("h1", {}, "Earnings"), h("p", { class: "lede" }, "What the exchange's compute contracts credited " +
    "you as a listing owner, an algorithm vendor or a compute node, and the escrow of your jobs you can take back. " +
    "Payments are pulled: a credit stays on ComputeJobs until you withdraw it."));
  const balanceBox = h("div", { id: "balance-box" }, h("p", { class: "loading" }, "Reading your balance from the chain…"));
  const withdrawBox = h("div", { id: "withdraw-box" });
  put(main, h("section", { "aria-labelledby": "h-balance" }, h("h2", { id: "h-balance" }, "Balance"),
    dl([["Account", hexCode(me, 8)], ["Credited balance", balanceBox]]), withdrawBox));

  async function showBalance() {
    try {
      const wei = await chainBalance(me);
      balanceBox.replaceChildren(balanceView(wei));
      withdrawBox.replaceChildren(wei > 0n
        ? txButton(`Withdraw ${formatWei(wei.toString())}`, () => sendContractTx("ComputeJobs", "withdraw", []), {
          id: "withdraw",
          done: async () => {
            const left = await chainBalance(me);
            balanceBox.replaceChildren(balanceView(left));
            return `${formatWei(wei.toString())} sent to your address ${short(me)}.`;
          },
        })
        : emptyState("Nothing to withdraw: your balance on ComputeJobs is zero."));
    } catch (err) {
      balanceBox.replaceChildren(errorState(err));
    }
  }

  const jobsBox = h("section", { "aria-labelledby": "h-credits" }, h("h2", { id: "h-credits" }, "Credited per job"));
  const refundBox = h("section", { "aria-labelledby": "h-refunds" }, h("h2", { id: "h-refunds" }, "Refundable jobs"));
  put(main, jobsBox, refundBox);
  const [, summary] = await Promise.all([showBalance(), api("/me/earnings").catch((err) => err)]);
  if (summary instanceof Error) {
    jobsBox.append(errorState(summary));
    refundBox.append(errorState(summary));
    return;
  }
  const credits = summary.jobs || [];
  jobsBox.append(credits.length
    ? table(`Credits by job (total ${formatWei(summary.credited_wei)}, withdrawn or not)`, ["Job", "Status", "As", "Credited"],
      credits.map((j) => h("tr", { "data-job": j.job_id }, h("td", {}, link(`jobs/${j.job_id}`, `Job ${j.job_id}`)),
        h("td", {}, statusBadge(j.status)), h("td", {}, (j.as || []).join(", ")),
        h("td", { "data-wei": j.wei }, formatWei(j.wei)))), { id: "credits" })
    : emptyState("No job has credited you yet.", "Owners and nodes are credited when a job completes; a buyer when " +
      "its job is declined, refused, disputed or reclaimed."));
  const refundable = summary.reclaimable || [];
  refundBox.append(h("p", { class: "muted" }, "A job you bought that is still waiting or running after its deadline " +
    "(by the chain's clock) can be reclaimed: its whole escrow is credited back to you."));
  refundBox.append(refundable.length
    ? h("ul", { class: "cards", id: "refundable" }, refundable.map((j) => h("li", { class: "card", "data-job": j.job_id },
      h("h3", {}, link(`jobs/${j.job_id}`, `Job ${j.job_id}`)),
      h("p", { id: `refund-status-${j.job_id}` }, statusBadge(j.status), ` past its deadline ${formatTime(Number(j.deadline))}`),
      h("p", {}, "Escrow ", h("strong", {}, formatWei(j.escrow_wei))),
      reclaimControl(j.job_id, async () => {
        document.getElementById(`refund-status-${j.job_id}`).replaceChildren(statusBadge("refunded"));
        await showBalance();
      }))))
    : emptyState("None of your jobs is past its deadline unfinished."));
}

