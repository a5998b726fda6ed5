// Regulator dashboard: anchored checkpoints checked in the browser, alerts, and the way into trails.

import { api, items } from "../api.js";
import { budgetedDatasetIds, formatEps, privacyBudget } from "../chain.js";
import { badge, emptyState, errorState, formatTime, h, hexCode, table, put, gate } from "../dom.js";
import { listing, usagePercent } from "../model.js";
import { isUnprovedOnly, verifyEntries } from "../verify.js";
import { loadCheckpoints, verdictBadge } from "./auditlib.js";
import { trustPanel } from "./trust.js";
import { regulatorMarket } from "./usage.js";

const NEAR_LIMIT_PERCENT = 80;
const RECENT_JOBS = 20;

function checkpointRows(verdicts) {
  return verdicts.slice().reverse().map((v) => h("tr", { "data-state": v.ok ? "ok" : "bad", "data-checkpoint": v.index },
    h("td", {}, `#${v.index}`), h("td", {}, String(v.treeSize)), h("td", {}, hexCode(v.root, 8)),
    h("td", {}, hexCode(v.txHash, 8)), h("td", {}, v.block ?? "—"), h("td", {}, formatTime(v.time)),
    h("td", {}, verdictBadge(v), v.problems.length ? h("ul", { class: "problems" }, v.problems.map((p) => h("li", {}, p)))
      : null)));
}

/** The newest requested jobs, each with its whole trail verified here: [{id, results}] newest first. */
async function recentTrails(cps) {
  // The entries route pages oldest first: read the total, then only the newest page.
  const head = await api("/audit/entries", { query: { kind: "job.requested", limit: 1 } });
  const offset = Math.max(0, Number(head.total || 0) - RECENT_JOBS);
  const data = await api("/audit/entries", { query: { kind: "job.requested", limit: RECENT_JOBS, offset } });
  const ids = [...new Set(items(data).map((e) => (e.subjects || []).find((s) => s.startsWith("job:")))
    .filter(Boolean).map((s) => s.slice(4)))].reverse();
  return Promise.all(ids.map(async (id) => {
    const trail = await api(`/audit/jobs/${id}/trail`, { exact: true });
    return { id, results: await verifyEntries(trail.entries || [], cps.trusted) };
  }));
}

async function alerts(cps, trails) {
  const out = [];
  for (const t of trails) {
    const bad = t.results.filter((x) => x.state === "bad");
    const unproved = bad.filter(isUnprovedOnly);
    // Entries whose checkpoint failed are unproved, not shown altered: one line per job, not one per entry.
    if (unproved.length) {
      out.push(["bad", `${unproved.length} entries of job ${t.id} cannot be proved: their checkpoints did not ` +
        "verify against the chain", `audit/jobs/${t.id}`]);
    }
    for (const r of bad.filter((x) => !isUnprovedOnly(x))) {
      out.push(["bad", `Entry #${r.seq} (${r.kind}) of job ${t.id} fails verification: ${r.problems.join("; ")}`,
        `audit/jobs/${t.id}`]);
    }
  }
  if (cps.chainError) out.push(["bad", `Checkpoints could not be checked on-chain: ${cps.chainError}`]);
  for (const v of cps.verdicts.filter((x) => !x.ok)) {
    out.push(["bad", `Checkpoint #${v.index} failed: ${v.problems.join("; ")}`]);
  }
  if (cps.chainCount !== null && cps.chainCount > cps.verdicts.length) {
    out.push(["bad", `The Notary holds ${cps.chainCount} checkpoints but the log lists ${cps.verdicts.length}`]);
  }
  const latest = cps.verdicts.at(-1);
  const backlog = cps.size - (latest ? latest.treeSize : 0);
  if (backlog > 0) out.push(["warn", `${backlog} log entries are not yet covered by an anchored checkpoint`]);
  const disputed = items(await api("/audit/entries", { query: { kind: "job.disputed", limit: 100 } }));
  for (const e of disputed) {
    const job = (e.subjects || []).find((s) => s.startsWith("job:"));
    out.push(["bad", `Job ${job ? job.slice(4) : "?"} is disputed: its node attestations disagree (entry #${e.seq})`,
      job ? `audit/jobs/${job.slice(4)}` : null]);
  }
  for (const kind of ["datasets", "algorithms"]) {
    const listings = items(await api(`/catalog/${kind}`, { query: { page_size: 100 }, auth: false }))
      .map((x) => listing(x, kind.slice(0, -1)));
    for (const l of listings) {
      const pct = usagePercent(l);
      if (pct !== null && pct >= NEAR_LIMIT_PERCENT) {
        out.push([pct >= 100 ? "bad" : "warn", `${l.title} (${kind.slice(0, -1)} #${l.id}) has used ${l.uses} of ` +
          `its ${l.maxUses} allowed uses (${pct}%)`, kind === "datasets" ? `audit/datasets/${l.id}` : null]);
      }
    }
  }
  return out;
}

/** Every dataset with a privacy budget on the Market the regulator's anchors name, with ε spent and left. */
async function budgetRows(cps, link) {
  const { reader, market } = await regulatorMarket(cps);
  const ids = await budgetedDatasetIds(reader, market);
  const budgets = await Promise.all(ids.map(async (id) => ({ id, b: await privacyBudget(reader, market, id) })));
  return budgets.filter(({ b }) => b.enabled).map(({ id, b }) => {
    const fits = b.left >= b.perJob;
    return h("tr", { "data-dataset": id, "data-state": fits ? "ok" : "warn" },
      h("td", {}, link(`audit/datasets/${id}`, `Dataset #${id}`)), h("td", {}, formatEps(b.total)),
      h("td", {}, formatEps(b.perJob)), h("td", {}, formatEps(b.spent)),
      h("td", {}, fits ? formatEps(b.left) : [formatEps(b.left), " ", badge("warn", "no further job fits")]));
  });
}

function lookupForm(navigate) {
  const jobInput = h("input", { id: "job-id", name: "job", type: "number", min: 1, required: true, inputmode: "numeric" });
  const dsInput = h("input", { id: "dataset-id", name: "dataset", type: "number", min: 1, required: true,
    inputmode: "numeric" });
  return h("div", { class: "filters" },
    h("form", { class: "field", onsubmit: (ev) => { ev.preventDefault(); navigate(`audit/jobs/${jobInput.value}`); } },
      h("label", { for: "job-id" }, "Job trail"), h("span", { class: "actions" }, jobInput,
        h("button", { class: "button", type: "submit" }, "Open trail"))),
    h("form", { class: "field", onsubmit: (ev) => { ev.preventDefault(); navigate(`audit/datasets/${dsInput.value}`); } },
      h("label", { for: "dataset-id" }, "Dataset usage"), h("span", { class: "actions" }, dsInput,
        h("button", { class: "button", type: "submit" }, "Open usage"))));
}

export async function render(main, _params, { session, navigate, link }) {
  if (!gate(main, session, "Regulator dashboard", "The audit trail is open to members with the regulator role.")) {
    return;
  }
  put(main, h("h1", {}, "Regulator dashboard"), h("p", { class: "lede" },
    "Every check below runs in this browser: checkpoint roots are read from the Notary contract, consecutive " +
    "checkpoints are tied by consistency proofs, and trail entries by inclusion proofs (RFC 6962)."),
  trustPanel(link));
  const cps = await loadCheckpoints();
  const good = cps.verdicts.filter((v) => v.ok).length;
  const allGood = good === cps.verdicts.length && cps.verdicts.length > 0;
  put(main, h("section", { "aria-labelledby": "h-status" }, h("h2", { id: "h-status" }, "Status"),
    h("p", { class: "summary", id: "checkpoint-summary" },
      cps.verdicts.length === 0 ? badge("warn", "No checkpoint anchored yet")
        : allGood ? badge("ok", `All ${good} checkpoints verified on-chain and consistent`)
          : badge("bad", `${cps.verdicts.length - good} of ${cps.verdicts.length} checkpoints failed`),
      ` Log size ${cps.size}.`)));
  const alertBox = h("section", { "aria-labelledby": "h-alerts" }, h("h2", { id: "h-alerts" }, "Alerts"),
    h("p", { class: "loading" }, "Checking…"));
  put(main, alertBox, h("section", { "aria-labelledby": "h-lookup" }, h("h2", { id: "h-lookup" }, "Look up"),
    lookupForm(navigate)));
  put(main, h("section", { "aria-labelledby": "h-cps" }, h("h2", { id: "h-cps" }, "Anchored checkpoints"),
    cps.verdicts.length ? table("Checkpoints, newest first", ["#", "Tree size", "Root", "Transaction", "Block",
      "Anchored", "Verification"], checkpointRows(cps.verdicts), { id: "checkpoints" })
      : emptyState("No checkpoint has been anchored on-chain yet.", "The notarizer anchors after a batch of entries.")));
  const budgets = h("section", { "aria-labelledby": "h-budgets", id: "budgets" },
    h("h2", { id: "h-budgets" }, "Privacy budgets (ε, read from the chain)"));
  put(main, budgets);
  try {
    const rows = await budgetRows(cps, link);
    budgets.append(rows.length ? table("Datasets with a differential-privacy budget", ["Dataset", "Total", "Per job",
      "Spent", "Left"], rows, { id: "budget-table" }) : emptyState("No dataset has a privacy budget.",
      "Jobs over a dataset without one release exact aggregates."));
  } catch (err) {
    budgets.append(h("p", { class: "summary", id: "budget-table" },
      badge("warn", `not read from the chain: ${err.message}`)));
  }
  const recent = h("section", { "aria-labelledby": "h-jobs" }, h("h2", { id: "h-jobs" }, "Recent compute contracts"));
  put(main, recent);
  let trails = [];
  try {
    trails = await recentTrails(cps);
    recent.append(trails.length ? h("ul", { id: "recent-jobs" }, trails.map((t) => {
      const bad = t.results.filter((r) => r.state === "bad").length;
      const pending = t.results.filter((r) => r.state === "pending").length;
      return h("li", { "data-job": t.id }, link(`audit/jobs/${t.id}`, `Job ${t.id} trail`), " ",
        bad ? badge("bad", `${bad} of ${t.results.length} entries fail`)
          : pending ? badge("warn", `${pending} of ${t.results.length} entries not yet anchored`)
            : badge("ok", `${t.results.length} entries proved`));
    })) : emptyState("No compute contract has been requested yet."));
  } catch (err) {
    recent.append(errorState(err));
  }
  try {
    const list = await alerts(cps, trails);
    alertBox.lastChild.replaceWith(list.length ? h("ul", { class: "alerts", id: "alerts" },
      list.map(([sev, text, path]) => h("li", { "data-severity": sev }, text, path ? [" — ", link(path, "open")] : null)))
      : h("p", { id: "alerts" }, badge("ok", "No alerts")));
  } catch (err) {
    alertBox.lastChild.replaceWith(errorState(err));
  }
}
