// A dataset's metered usage over time, by buyer and by algorithm, each use proved against the chain.

import { api } from "../api.js";
import { toPlain } from "../canonical.js";
import { budgetLine, callView, ChainError, epsilonEvents, formatEps, privacyBudget } from "../chain.js";
import { badge, emptyState, errorState, formatTime, h, table, put, gate } from "../dom.js";
import { bars, usageChart } from "../chart.js";
import { listing } from "../model.js";
import { trustAnchors } from "../trust.js";
import { verifyEntries } from "../verify.js";
import { chainReader, entryBadge, loadCheckpoints, NO_ANCHORS } from "./auditlib.js";

// A use is metered when the ledger authorizes a job: that is when the usage counter increments.
const METERED_KIND = "job.authorized";

/**
 * The Market as the regulator's own trust anchors name it: the one their ComputeJobs contract calls, read
 * from that contract on their RPC (never the address the audited API serves). Throws naming what is missing.
 */
export async function regulatorMarket(cps) {
  const reader = chainReader();
  const anchors = trustAnchors();
  if (!reader || !anchors) throw new ChainError(NO_ANCHORS);
  if (cps && cps.chainError) throw new ChainError(cps.chainError);
  const market = (await callView(reader, anchors.computeJobs, "ComputeJobs", "market"))["0"];
  return { reader, market: String(market).toLowerCase() };
}

/** Per job, the ε its request reserved and what came back, from the Market's events: [{jobId, reserved, released}]. */
function epsilonByJob(events) {
  const jobs = new Map();
  for (const e of events) {
    const key = e.jobId.toString();
    const row = jobs.get(key) || { jobId: key, reserved: 0n, released: 0n };
    if (e.event === "EpsilonReserved") row.reserved += e.microEps;
    else row.released += e.microEps;
    jobs.set(key, row);
  }
  return [...jobs.values()].sort((a, b) => Number(BigInt(a.jobId) - BigInt(b.jobId)));
}

/** The dataset's privacy budget and each job's ε, checked to add up to what the Market holds as spent. */
async function budgetSection(datasetId, cps, link) {
  const section = h("section", { "aria-labelledby": "h-budget", id: "budget" },
    h("h2", { id: "h-budget" }, "Privacy budget"));
  let budget;
  let rows;
  try {
    const { reader, market } = await regulatorMarket(cps);
    const [b, events] = await Promise.all([privacyBudget(reader, market, datasetId),
      epsilonEvents(reader, market, datasetId)]);
    budget = b;
    rows = epsilonByJob(events);
  } catch (err) {
    section.append(h("p", { class: "summary", id: "budget-summary" },
      badge("warn", `not read from the chain: ${err.message}`)));
    return section;
  }
  const held = rows.reduce((sum, r) => sum + r.reserved - r.released, 0n);
  const reserved = rows.reduce((sum, r) => sum + r.reserved, 0n);
  const released = rows.reduce((sum, r) => sum + r.released, 0n);
  // A spent total the events do not explain means the chain's answers disagree: say so, never smooth it over.
  const adds = held === budget.spent;
  section.append(h("p", { class: "summary", id: "budget-summary" },
    budget.enabled ? budgetLine(budget) : "No privacy budget (exact aggregates).", " ",
    adds ? badge("ok", `the ε events add up to the ${formatEps(budget.spent)} the Market holds as spent`)
      : badge("bad", `the ε events add up to ${formatEps(held)} spent, the Market holds ${formatEps(budget.spent)}`)));
  if (!rows.length) {
    section.append(emptyState("No job has reserved ε of this dataset.",
      budget.enabled ? "A request reserves the per-job ε when it is made." : null));
    return section;
  }
  section.append(table("ε each job reserved and gave back (Market events)",
    ["Job", "ε reserved", "ε released", "Holds now"], rows.map((r) => {
      const holds = r.reserved - r.released;
      return h("tr", { "data-job": r.jobId, "data-state": holds > 0n ? "held" : "released" },
        h("td", {}, link(`audit/jobs/${r.jobId}`, `Job ${r.jobId}`)), h("td", {}, formatEps(r.reserved)),
        h("td", {}, r.released ? formatEps(r.released) : "—"),
        h("td", {}, holds > 0n ? `ε ${formatEps(holds)} (spent)` : "nothing (released)"));
    }), { id: "epsilon-jobs" }),
  h("p", { id: "budget-totals" }, `Totals: ε ${formatEps(reserved)} reserved by ${rows.length} ` +
    `job${rows.length === 1 ? "" : "s"}, ` +
    `ε ${formatEps(released)} released, ε ${formatEps(held)} held.`));
  return section;
}

export async function render(main, [datasetId], { session, link }) {
  if (!gate(main, session, `Dataset ${datasetId} usage`, "Metered usage is open to members with the regulator role.")) {
    return;
  }
  put(main, h("p", { class: "crumbs" }, link("audit", "Regulator dashboard"), ` / Dataset ${datasetId}`));
  const [cps, exact, meta] = await Promise.all([
    loadCheckpoints(),
    api(`/audit/datasets/${datasetId}/usage`, { exact: true }),
    api(`/catalog/datasets/${datasetId}`, { auth: false }).catch(() => null),
  ]);
  const usage = toPlain(exact);
  const l = meta ? listing(meta, "dataset") : null;
  put(main, h("h1", {}, `Usage of ${l ? l.title : `dataset ${datasetId}`}`));
  const uses = usage.uses || [];
  // Each usage record is a whole log entry with its proof: re-check it here from its exact fields.
  const proved = await verifyEntries(exact.uses || [], cps.trusted);
  const verdict = new Map(proved.map((r) => [r.seq, r]));
  const metered = uses.filter((u) => u.kind === METERED_KIND).sort((a, b) => a.time - b.time);
  const points = metered.map((u, k) => ({ t: u.time / 1000, n: k + 1 }));
  const byBuyer = new Map();
  const byAlgorithm = new Map();
  for (const u of metered) {
    const buyer = u.buyer || "unknown";
    const algo = u.algorithm === null || u.algorithm === undefined ? "unknown"
      : /^\d+$/.test(String(u.algorithm)) ? `algorithm:${u.algorithm}` : String(u.algorithm);
    byBuyer.set(buyer, (byBuyer.get(buyer) || 0) + 1);
    byAlgorithm.set(algo, (byAlgorithm.get(algo) || 0) + 1);
  }
  const bad = proved.filter((r) => r.state === "bad");
  put(main, h("p", { class: "summary", id: "usage-summary" },
    bad.length ? badge("bad", `${bad.length} usage entries fail verification: ${bad.map((r) => `#${r.seq}`).join(", ")}`)
      : badge("ok", `${proved.filter((r) => r.state === "ok").length} of ${uses.length} usage entries proved on-chain`),
    ` ${metered.length} metered uses` + (l && l.maxUses ? ` of ${l.maxUses} allowed.` : ".")));
  // The budget is read from the chain, slower than the rest: it fills its place when it arrives, so the
  // proved log is on screen (and complete) without waiting for the RPC.
  const slot = h("section", { id: "budget", "aria-busy": "true" }, h("p", {}, "Reading the privacy budget from the chain…"));
  put(main, slot);
  const budgetShown = budgetSection(datasetId, cps, link).then((s) => slot.replaceWith(s),
    (err) => slot.replaceWith(errorState(err)));
  if (!uses.length) {
    put(main, emptyState("No compute contract has used this dataset yet."));
    await budgetShown;
    return;
  }
  put(main, 
    h("section", { "aria-labelledby": "h-time" }, h("h2", { id: "h-time" }, "Uses over time"),
      usageChart(points, l ? l.maxUses : 0, `Cumulative metered uses of dataset ${datasetId}`)),
    h("div", { class: "cards" },
      h("section", { class: "card", "aria-labelledby": "h-buyer" }, h("h2", { id: "h-buyer" }, "By buyer"),
        byBuyer.size ? bars("Uses by buyer", byBuyer) : emptyState("No metered use yet.")),
      h("section", { class: "card", "aria-labelledby": "h-algo" }, h("h2", { id: "h-algo" }, "By algorithm"),
        byAlgorithm.size ? bars("Uses by algorithm", byAlgorithm) : emptyState("No metered use yet."))),
    h("section", { "aria-labelledby": "h-log" }, h("h2", { id: "h-log" }, "Usage entries"),
      table("Job entries naming this dataset", ["Seq", "Time", "Kind", "Job", "Buyer", "Verification"],
        uses.map((u) => {
          const r = verdict.get(u.seq);
          return h("tr", { "data-state": r ? r.state : "bad", "data-seq": u.seq },
            h("td", {}, `#${u.seq}`), h("td", {}, formatTime(u.time)), h("td", {}, h("code", { class: "nowrap" }, u.kind)),
            h("td", {}, (u.jobs || []).map((j) => link(`audit/jobs/${j.slice(4)}`, j))),
            h("td", {}, u.buyer ? h("code", {}, u.buyer) : "—"),
            h("td", {}, r ? entryBadge(r) : badge("bad", "Entry missing from the log")));
        }), { id: "usage" })),
  );
  await budgetShown;
}
