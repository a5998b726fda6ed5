// One job's full audit trail, each entry's inclusion proof checked here against an on-chain root.

import { api } from "../api.js";
import { badge, formatTime, h, hexCode, table, put, gate } from "../dom.js";
import { canonicalJson } from "../canonical.js";
import { verifyEntries } from "../verify.js";
import { entryBadge, loadCheckpoints } from "./auditlib.js";

function payloadSummary(payload) {
  if (payload === null || payload === undefined) return h("span", { class: "muted" }, "withheld");
  // Shown exactly as hashed: canonical JSON with the server's own spelling of numbers.
  const text = canonicalJson(payload);
  return h("code", { class: "payload", title: text }, text.length > 90 ? `${text.slice(0, 90)}…` : text);
}

/** A button that saves the notarizer's signed bundle of this trail, for offline checking (dx verify). */
function bundleButton(jobId) {
  const status = h("span", { role: "status", class: "muted" });
  const button = h("button", { type: "button", class: "button button-quiet", id: "download-bundle",
    onclick: async () => {
      button.disabled = true;
      try {
        const bundle = await api("/audit/export", { query: { job: jobId } });
        const url = URL.createObjectURL(new Blob([JSON.stringify(bundle, null, 2)], { type: "application/json" }));
        const a = h("a", { href: url, download: `job-${jobId}-audit-bundle.json` });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10_000);
        status.textContent = ` Saved ${bundle.entries ? bundle.entries.length : 0} entries.`;
      } catch (err) {
        status.textContent = ` ${err.message}`;
      } finally {
        button.disabled = false;
      }
    } }, "Download the signed bundle");
  return h("p", { class: "actions" }, button, status);
}

export async function render(main, [jobId], { session, link }) {
  if (!gate(main, session, `Job ${jobId} audit trail`, "Job trails are open to members with the regulator role.")) {
    return;
  }
  put(main, h("p", { class: "crumbs" }, link("audit", "Regulator dashboard"), ` / Job ${jobId}`),
    h("h1", {}, `Job ${jobId} audit trail`));
  const [cps, trail] = await Promise.all([loadCheckpoints(), api(`/audit/jobs/${jobId}/trail`, { exact: true })]);
  const results = await verifyEntries(trail.entries || [], cps.trusted);
  const bad = results.filter((r) => r.state === "bad");
  const pending = results.filter((r) => r.state === "pending");
  const summary = bad.length
    ? badge("bad", `${bad.length} of ${results.length} entries fail verification: ` +
      bad.map((r) => `#${r.seq} (${r.kind})`).join(", "))
    : pending.length ? badge("warn", `${results.length - pending.length} entries proved; ${pending.length} not yet anchored`)
      : badge("ok", `All ${results.length} entries proved against anchored checkpoints`);
  put(main, h("p", { class: "summary", id: "trail-summary", role: "status" }, summary));
  if (bad.length) {
    put(main, h("div", { class: "error", role: "alert", id: "trail-alert" }, h("p", {}, h("strong", {},
      "Tampered entries: "), bad.map((r) => `#${r.seq} ${r.kind} — ${r.problems.join("; ")}`).join(" · "))));
  }
  put(main, bundleButton(jobId));
  put(main, table(`Entries naming job:${jobId}, in log order`,
    ["Seq", "Time", "Kind", "Actor", "Payload", "Checkpoint", "Verification"],
    results.map((r) => h("tr", { "data-state": r.state, "data-seq": r.seq },
      h("td", {}, `#${r.seq}`), h("td", {}, formatTime(r.time)), h("td", {}, h("code", { class: "nowrap" }, r.kind)),
      h("td", {}, hexCode(r.actor, 4)), h("td", {}, payloadSummary(r.payload)),
      h("td", {}, r.checkpoint === null ? "—" : `#${r.checkpoint}`),
      h("td", {}, entryBadge(r), r.problems.length && r.state !== "pending"
        ? h("ul", { class: "problems" }, r.problems.map((p) => h("li", {}, p))) : null))),
    { id: "trail" }));
}
