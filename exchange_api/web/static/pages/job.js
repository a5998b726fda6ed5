// One job's live timeline (polled): requested, approvals, authorized, each node, attested, destroyed,
// settled, and the status of the three result shares.

import { api } from "../api.js";
import { badge, emptyState, errorState, formatWei, h, hexCode, table, put, gate } from "../dom.js";
import { statusBadge } from "./jobs.js";

const POLL_MS = 1500;
const NODES = [0, 1, 2];
const AFTER_AUTH = ["authorized", "completed", "disputed"];

function approvalOf(job, owner) {
  const mine = job.approvals.filter((a) => a.owner.toLowerCase() === owner.toLowerCase());
  return mine.at(-1);
}

/**
 * One attestation per node slot 0..2. Slots follow the nodes' cluster indices when those are distinct, and
 * otherwise the order the nodes attested in, so a mis-indexed attestation still shows up.
 */
export function nodeSlots(attestations) {
  const byNode = new Map();
  for (const a of attestations) if (!byNode.has(a.node.toLowerCase())) byNode.set(a.node.toLowerCase(), a);
  const list = [...byNode.values()];
  const indexed = new Set(list.map((a) => a.node_index)).size === list.length
    && list.every((a) => NODES.includes(a.node_index));
  return NODES.map((i) => (indexed ? list.find((a) => a.node_index === i) : list[i]));
}

/** The timeline's steps: [key, label, state (done|active|todo|bad), detail]. */
export function steps(job) {
  const out = [["requested", "Requested", "done", `block ${job.created_block}, escrow ${formatWei(job.escrow_wei)}`]];
  const closed = job.status !== "requested";
  for (const owner of [...new Set(job.owners)]) {
    const a = approvalOf(job, owner);
    const pending = job.pending_owners.some((o) => o.toLowerCase() === owner.toLowerCase());
    let state = "todo";
    let detail = "waiting for the owner's signature";
    if (a && a.decision === "decline") [state, detail] = ["bad", "declined"];
    else if (!pending && (closed || a)) [state, detail] = ["done", a && a.tx_hash ? `relayed in ${a.tx_hash.slice(0, 12)}…` : "approved"];
    else if (a) [state, detail] = ["active", `signed; ${a.status}`];
    out.push([`approval-${owner}`, `Approval by ${owner.slice(0, 8)}…${owner.slice(-4)}`, state, detail]);
  }
  const authorized = AFTER_AUTH.includes(job.status);
  out.push(["authorized", "Authorized on-chain", authorized ? "done" : job.status === "declined" ? "bad" : "todo",
    authorized ? "usage counters incremented" : ""]);
  const results = nodeSlots(job.attestations.filter((a) => a.kind === "result")).filter(Boolean);
  const destroyed = nodeSlots(job.attestations.filter((a) => a.kind === "destruction")).filter(Boolean);
  const slots = nodeSlots(job.attestations.filter((a) => a.kind === "result"));
  for (const i of NODES) {
    const att = slots[i];
    out.push([`node-${i}`, `Running on node ${i}`, att ? "done" : authorized ? "active" : "todo",
      att ? `${att.node.slice(0, 8)}…${att.node.slice(-4)} attested in block ${att.block_number}`
        : authorized ? "computing on secret shares" : ""]);
  }
  out.push(["attested", "Attested by all three nodes",
    job.status === "disputed" ? "bad" : results.length === 3 ? "done" : authorized ? "active" : "todo",
    job.status === "disputed" ? "the attestations disagree" : `${results.length} of 3 attestations`]);
  out.push(["destroyed", "Inputs and intermediates destroyed", destroyed.length === 3 ? "done"
    : destroyed.length ? "active" : "todo", `${destroyed.length} of 3 destruction receipts`]);
  const settled = job.status === "completed" ? "done" : job.status === "refunded" ? "bad" : "todo";
  out.push(["settled", "Settled", settled, settled === "done" ? "escrow paid out to owners and nodes"
    : job.status === "refunded" ? "refunded to the buyer" : ""]);
  return out;
}

const STATE_BADGE = { done: ["ok", "done"], active: ["pending", "in progress"], todo: ["info", "not yet"],
  bad: ["bad", "failed"] };

function timeline(job) {
  return h("ol", { class: "timeline", id: "timeline", "aria-label": `Timeline of job ${job.id}` },
    steps(job).map(([key, label, state, detail]) => h("li", { "data-step": key, "data-state": state,
      "data-done": String(state === "done") },
      h("span", { class: "step" }, label), " ", badge(...STATE_BADGE[state]),
      detail ? h("span", { class: "muted" }, ` — ${detail}`) : null)));
}

function shares(results) {
  if (!results.length) return emptyState("No result share yet: each node attests its share when it finishes.");
  return table("Result shares (encrypted to your key)", ["Node", "Share hash", "CID", "Stored"],
    results.map((r) => h("tr", { "data-share": r.node },
      h("td", {}, hexCode(r.node, 4)), h("td", {}, hexCode(r.output_share_hash, 8)), h("td", {}, hexCode(r.cid, 10)),
      h("td", {}, r.stored ? badge("ok", "stored") : badge("warn", "not in the blob store")))), { id: "shares" });
}

function finished(job) {
  const destroyed = nodeSlots(job.attestations.filter((a) => a.kind === "destruction")).filter(Boolean).length;
  return ["declined", "refunded"].includes(job.status) || (job.status === "completed" && destroyed === 3);
}

export async function render(main, [jobId], { session, link }) {
  if (!gate(main, session, `Job ${jobId}`, "Sign in with the buyer's wallet to follow this job.")) return;
  put(main, h("p", { class: "crumbs" }, link("jobs", "My jobs"), ` / Job ${jobId}`), h("h1", {}, `Job ${jobId}`));
  const head = h("div", { id: "job-head" });
  const live = h("section", { "aria-labelledby": "h-timeline" }, h("h2", { id: "h-timeline" }, "Timeline"));
  const body = h("div", {});
  const sharesBox = h("section", { "aria-labelledby": "h-shares" }, h("h2", { id: "h-shares" }, "Result shares"));
  const shareBody = h("div", {});
  live.append(body);
  sharesBox.append(shareBody);
  put(main, head, live, sharesBox);
  let timer = null;
  let stopped = false;

  async function refresh() {
    try {
      const [job, results] = await Promise.all([api(`/jobs/${jobId}`), api(`/jobs/${jobId}/results`)]);
      head.replaceChildren(h("p", { class: "summary", id: "job-status" }, statusBadge(job.status),
        " Program ", hexCode(job.program_hash, 8), ` · datasets ${job.dataset_ids.map((d) => `#${d}`).join(", ")}` +
        ` · algorithm #${job.algorithm_id}`));
      body.replaceChildren(timeline(job));
      shareBody.replaceChildren(shares(results));
      if (finished(job)) stopped = true;
    } catch (err) {
      body.replaceChildren(errorState(err));
    }
    // Poll only while something can still change; a closed job's timeline is final.
    if (!stopped) timer = setTimeout(refresh, POLL_MS);
  }
  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
