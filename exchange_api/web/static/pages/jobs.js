// Buyer view: my compute contracts and where each one stands.

import { api } from "../api.js";
import { badge, emptyState, formatWei, h, table, put, gate } from "../dom.js";


export const STATUS_BADGE = {
  requested: ["pending", "Awaiting approvals"], authorized: ["info", "Authorized, computing"],
  completed: ["ok", "Completed"], disputed: ["bad", "Disputed"], declined: ["bad", "Declined"],
  refunded: ["warn", "Refunded"],
};

export function statusBadge(status) {
  const [state, label] = STATUS_BADGE[status] || ["info", status];
  return badge(state, label);
}

export async function render(main, _params, { session, link }) {
  if (!gate(main, session, "My jobs", "Sign in with your buyer wallet to follow your compute contracts.")) return;
  put(main, h("h1", {}, "My jobs"));
  // The jobs past their deadline by the chain's clock, which the API reads: the browser's clock may differ.
  const [jobs, earnings] = await Promise.all([api("/jobs"), api("/me/earnings").catch(() => null)]);
  const refundable = new Set(((earnings && earnings.reclaimable) || []).map((r) => Number(r.job_id)));
  if (!jobs.length) {
    put(main, emptyState("You have not requested a compute contract yet.",
      "Pick a dataset and an algorithm in the catalog, then request a job with the dx command line."));
    return;
  }
  put(main, table("Compute contracts, newest first", ["Job", "Status", "Datasets", "Algorithm", "Escrow", "Results"],
    jobs.map((j) => h("tr", { "data-job": j.id },
      h("td", {}, link(`jobs/${j.id}`, `Job ${j.id}`)), h("td", {}, statusBadge(j.status),
        refundable.has(Number(j.id)) ? [" ", link("earnings", `Past its deadline: reclaim the escrow of job ${j.id}`)]
          : null),
      h("td", {}, j.dataset_ids.map((d, i) => [i ? ", " : "", link(`datasets/${d}`, `dataset #${d}`)])),
      h("td", {}, link(`algorithms/${j.algorithm_id}`, `algorithm #${j.algorithm_id}`)),
      h("td", {}, formatWei(j.escrow_wei)),
      h("td", {}, `${j.attestations.filter((a) => a.kind === "result").length} of 3 shares attested`))),
    { id: "jobs" }));
}
