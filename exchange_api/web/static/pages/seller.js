// Seller view: my listings with usage and earnings, and the requests waiting for my signed approval.

import { api } from "../api.js";
import { badge, emptyState, errorState, formatWei, h, hexCode, table, put, gate } from "../dom.js";
import { pageChain } from "../chain.js";
import { signTypedData } from "../wallet.js";
import { usageMeter } from "./catalog.js";


const SIGNATURE_LIFETIME_S = 3600;

/** A fresh approval nonce: 48 random bits keep it exact as a JS number and make reuse negligible. */
function freshNonce() {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return b.reduce((n, x) => n * 256 + x, 0);
}

/** Refuse to sign typed data that is not exactly the approval (or decline) of this job's program. */
export function checkTyped(typed, job, owner, decision) {
  const m = typed && typed.message;
  const expectType = decision === "approve" ? "Approval" : "Decline";
  const problems = [];
  if (!m || typed.primaryType !== expectType) problems.push(`it is not a ${expectType} message`);
  else {
    if (Number(m.jobId) !== job.id) problems.push(`it names job ${m.jobId}, not ${job.id}`);
    if (String(m.owner).toLowerCase() !== owner.toLowerCase()) problems.push(`it is for owner ${m.owner}`);
    if (decision === "approve" && String(m.programHash).toLowerCase() !== String(job.program_hash).toLowerCase()) {
      problems.push(`it approves program ${m.programHash}, not the requested ${job.program_hash}`);
    }
  }
  if (problems.length) throw new Error(`The API's ${expectType} message was not signed: ${problems.join("; ")}.`);
}

/** Seconds since the epoch by the chain's clock when the page can read it (a test chain may run ahead). */
async function chainNow() {
  const wall = Math.floor(Date.now() / 1000);
  const reader = pageChain();
  if (!reader) return wall;
  try {
    const block = await reader.call("eth_getBlockByNumber", ["latest", false]);
    return Math.max(wall, Number(BigInt(block.timestamp)));
  } catch {
    return wall;
  }
}

async function decide(job, decision, me) {
  const nonce = freshNonce();
  const deadline = (await chainNow()) + SIGNATURE_LIFETIME_S;
  const typed = await api(`/jobs/${job.id}/typed-data`, { query: { nonce, deadline, decision } });
  checkTyped(typed, job, me, decision);
  const { signature } = await signTypedData(typed);
  return api(`/jobs/${job.id}/${decision === "approve" ? "approvals" : "declines"}`, {
    method: "POST", body: { owner: me, signature, nonce, deadline },
  });
}

function outcome(result, decision) {
  const tx = result.relayed;
  if (tx) {
    return h("p", { class: "outcome", role: "status" }, badge("ok", decision === "approve" ? "Approved" : "Declined"),
      ` Relayed on-chain in transaction `, hexCode(tx.tx_hash, 8), ` (block ${tx.block_number ?? "pending"}). ` +
      `Job status: ${result.job.status}.`);
  }
  return h("p", { class: "outcome", role: "status" }, badge("pending", "Signed"),
    ` Your approval is stored; waiting for ${result.waiting_for.length} more owner(s) before it is relayed.`);
}

async function requestCard(job, me, titles, link) {
  const algo = titles.get(`algorithm:${job.algorithm_id}`) || `algorithm #${job.algorithm_id}`;
  const status = h("div", { class: "decision" });
  const buttons = h("div", { class: "actions" });
  const act = (decision) => async () => {
    for (const b of buttons.querySelectorAll("button")) b.disabled = true;
    status.replaceChildren(h("p", { class: "loading" }, "Waiting for your wallet's signature…"));
    try {
      const result = await decide(job, decision, me);
      buttons.remove();
      status.replaceChildren(outcome(result, decision));
      status.querySelector(".outcome")?.setAttribute("tabindex", "-1");
      status.querySelector(".outcome")?.focus();
    } catch (err) {
      status.replaceChildren(errorState(err));
      for (const b of buttons.querySelectorAll("button")) b.disabled = false;
    }
  };
  buttons.append(
    h("button", { type: "button", class: "button", onclick: act("approve"), "aria-label": `Approve job ${job.id}` },
      "Approve (sign)"),
    h("button", { type: "button", class: "button button-danger", onclick: act("decline"),
      "aria-label": `Decline job ${job.id}` }, "Decline"));
  return h("li", { class: "card", "data-job": job.id },
    h("h3", {}, `Job ${job.id}`),
    h("dl", { class: "facts" },
      h("dt", {}, "Algorithm"), h("dd", {}, link(`algorithms/${job.algorithm_id}`, algo)),
      h("dt", {}, "Datasets"), h("dd", {}, job.dataset_ids.map((d, i) => [i ? ", " : "",
        link(`datasets/${d}`, titles.get(`dataset:${d}`) || `dataset #${d}`)])),
      h("dt", {}, "Buyer"), h("dd", {}, h("code", {}, job.buyer)),
      h("dt", {}, "Program hash"), h("dd", {}, h("code", { class: "program-hash" }, job.program_hash)),
      h("dt", {}, "Escrow"), h("dd", {}, formatWei(job.escrow_wei)),
      h("dt", {}, "Deadline"), h("dd", {}, new Date(job.deadline * 1000).toISOString())),
    h("p", { class: "muted" }, "Approving signs an EIP-712 message in your wallet for exactly this program hash; " +
      "the exchange relays it and pays the gas."),
    buttons, status);
}

async function titlesFor(jobs) {
  const titles = new Map();
  const wanted = new Set();
  for (const j of jobs) {
    wanted.add(`algorithm:${j.algorithm_id}`);
    for (const d of j.dataset_ids) wanted.add(`dataset:${d}`);
  }
  await Promise.all([...wanted].map(async (key) => {
    const [kind, id] = key.split(":");
    try {
      const l = await api(`/catalog/${kind}s/${id}`, { auth: false });
      if (l.title) titles.set(key, l.title);
    } catch {
      // Not indexed yet: the card shows the id instead.
    }
  }));
  return titles;
}

export async function render(main, _params, { session, link }) {
  if (!gate(main, session, "Seller", "Sign in with the wallet that owns your listings to see them and their requests.")) {
    return;
  }
  const me = session.address;
  put(main, h("h1", {}, "Seller"), h("p", { class: "lede" }, "Your listings, what they have earned, and the " +
    "compute contracts waiting for your approval."));
  const [usage, requests] = await Promise.all([api("/me/usage"), api("/me/requests", { query: { status: "requested" } })]);
  put(main, h("section", { "aria-labelledby": "h-mine" }, h("h2", { id: "h-mine" }, "My listings"),
    usage.length ? table("Usage and earnings", ["Listing", "Status", "Usage", "Price per use", "Completed jobs", "Earned"],
      usage.map((u) => h("tr", { "data-listing": `${u.kind}:${u.id}` },
        h("td", {}, link(`${u.kind}s/${u.id}`, u.title || `${u.kind} #${u.id}`)), h("td", {}, u.status),
        h("td", {}, usageMeter({ uses: u.uses, maxUses: u.max_uses })), h("td", {}, formatWei(u.price_wei)),
        h("td", {}, String(u.completed_jobs)), h("td", {}, formatWei(u.earned_wei)))), { id: "my-listings" })
      : emptyState("You have no listings yet.", "List a dataset or an algorithm with the dx command line.")));
  const waiting = requests.filter((j) => (j.pending_owners || []).some((o) => o.toLowerCase() === me.toLowerCase()));
  const titles = await titlesFor(waiting);
  put(main, h("section", { "aria-labelledby": "h-pending" }, h("h2", { id: "h-pending" },
    `Requests awaiting your approval (${waiting.length})`),
    waiting.length ? h("ul", { class: "cards", id: "pending" }, await Promise.all(waiting.map((j) => requestCard(j, me, titles, link))))
      : emptyState("No request is waiting for your approval.")));
}
