// A dataset's metered usage over time, by buyer and by algorithm, each use proved against the chain.

import { api } from "../api.js";
import { toPlain } from "../canonical.js";
import { badge, emptyState, formatTime, h, table, put, gate } from "../dom.js";
import { bars, usageChart } from "../chart.js";
import { listing } from "../model.js";
import { verifyEntries } from "../verify.js";
import { entryBadge, loadCheckpoints } from "./auditlib.js";

// A use is metered when the ledger authorizes a job: that is when the usage counter increments.
const METERED_KIND = "job.authorized";

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
  if (!uses.length) {
    put(main, emptyState("No compute contract has used this dataset yet."));
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
}
