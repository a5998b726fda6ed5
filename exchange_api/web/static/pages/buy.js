// Buyer view: pick datasets and an algorithm, review the price, escrow, policies and program hash (read from the
// chain and checked here, not taken from the API), then request the job with ComputeJobs.request from the wallet.

import { api, apiBytes, items } from "../api.js";
import { decode, encodeCall, fragment, topicOf } from "../abi.js";
import { callView, cidFromDigest, contractAbi, contracts, pageChain } from "../chain.js";
import { badge, dl, emptyState, errorState, formatWei, h, hexCode, put, table, gate } from "../dom.js";
import { bytesToHex, sha256 } from "../merkle.js";
import { listing } from "../model.js";
import { policyWords } from "../policy.js";
import { decodeRevert, sendContractTx } from "../tx.js";

const ZERO32 = `0x${"0".repeat(64)}`;
// mpc_compute.policy.DEFAULT_POLICY, the policy of a listing whose policy hash is zero (the nodes apply it).
const DEFAULT_POLICY = { version: 1, min_group_size: 10, columns: {}, allowed_algorithms: null, allowed_buyers: null,
  id_lookups: { per_job: 10000, per_period: 100000, period_seconds: 86400 }, pre_approve: false };
const DEFAULT_DEADLINE_S = 3600;
const isAddress = (s) => /^0x[0-9a-fA-F]{40}$/.test(s);

/** The columns a buyer may select: the catalog's schema without id, label and text columns (never features). */
function featureColumns(l) {
  return (l.columns || []).map((c) => (typeof c === "string" ? { name: c } : c))
    .filter((c) => c && c.name && !["id", "label"].includes(c.role) && c.dtype !== "text");
}

/** Market.quote(datasetIds, algorithmId, buyer) from the chain: owners, prices, preApproved, policyHashes. */
async function quote(reader, datasetIds, algorithmId, buyer) {
  const market = contracts().Market;
  const fn = fragment(await contractAbi("Market"), "function", "quote");
  try {
    const out = await reader.call("eth_call", [{ to: market, data: encodeCall(fn, [datasetIds, algorithmId, buyer]) },
      "latest"]);
    return decode(fn.outputs, out);
  } catch (err) {
    const found = await decodeRevert(err.data);
    if (!found) throw err;
    throw new Error(`The Market refuses to quote this job (${found.contract ? `${found.contract}.` : ""}` +
      `${found.errorName}): ${found.words}.`);
  }
}

/** A dataset's policy document, fetched by its on-chain hash and checked against it; null = the default policy. */
async function policyOf(hash) {
  if (!hash || hash === ZERO32) return null;
  const bytes = await apiBytes(`/blobs/${cidFromDigest(hash.replace(/^0x/, ""))}`);
  const digest = bytesToHex(await sha256(bytes));
  if (`0x${digest}` !== hash.toLowerCase()) throw new Error(`the policy document hashes to 0x${digest}, not ${hash}`);
  return JSON.parse(new TextDecoder().decode(bytes));
}

function numberOrNull(text, what) {
  const t = String(text ?? "").trim();
  if (!t) return null;
  const n = Number(t);
  if (!Number.isFinite(n)) throw new Error(`${what} “${t}” is not a number.`);
  return n;
}

/** The job's public parameters from the form (joint_stats fields plus any JSON the buyer adds). */
export function paramsFromForm(form) {
  const get = (name) => form.querySelector(`[name="${name}"]`)?.value ?? "";
  let params = {};
  const extra = get("params_json").trim();
  if (extra) {
    try {
      params = JSON.parse(extra);
    } catch (err) {
      throw new Error(`The other parameters are not JSON: ${err.message}`);
    }
    if (!params || typeof params !== "object" || Array.isArray(params)) {
      throw new Error("The other parameters must be a JSON object, e.g. {\"hist_edges\": {\"0\": [0, 30, 60]}}.");
    }
  }
  const minCohort = numberOrNull(get("min_cohort"), "The minimum cohort");
  if (minCohort !== null) params.min_cohort = minCohort;
  const col = numberOrNull(get("cohort_column"), "The cohort column");
  if (col !== null) {
    params.cohort = { column: col, min: numberOrNull(get("cohort_min"), "The cohort minimum"),
      max: numberOrNull(get("cohort_max"), "The cohort maximum") };
  }
  return params;
}

function checkboxes(legend, name, options, attrs = {}) {
  return h("fieldset", { class: "choices", ...attrs }, h("legend", {}, legend),
    options.map((o) => h("div", { class: "choice" },
      h("input", { type: "checkbox", id: `${name}-${o.value}`, name, value: o.value, checked: o.checked }),
      h("label", { for: `${name}-${o.value}` }, o.label))));
}

function field(id, label, input, hint) {
  return h("div", { class: "field" }, h("label", { for: id }, label), input,
    hint ? h("span", { class: "hint muted", id: `${id}-hint` }, hint) : null);
}

const utcInput = (seconds) => new Date(seconds * 1000).toISOString().slice(0, 16);

export async function render(main, _params, { session, link }) {
  if (!gate(main, session, "Request a job", "Sign in with your buyer wallet to request a compute job.")) return;
  put(main, h("p", { class: "crumbs" }, link("", "Catalog"), " / Request a job"), h("h1", {}, "Request a job"),
    h("p", { class: "lede" }, "Pick the datasets and the algorithm, check the price, the policies and the program " +
      "hash, then sign the request in your wallet. The escrow stays in the ComputeJobs contract until the job " +
      "settles or you reclaim it after the deadline."));
  const status = h("p", { class: "loading", role: "status" }, "Loading the catalog…");
  main.append(status);
  const [dsPage, algPage] = await Promise.all([api("/catalog/datasets", { query: { page_size: 100 }, auth: false }),
    api("/catalog/algorithms", { query: { page_size: 100 }, auth: false })]);
  status.remove();
  const datasets = items(dsPage, "datasets").map((x) => listing(x, "dataset")).filter((l) => l.status === "active");
  const algorithms = items(algPage, "algorithms").map((x) => listing(x, "algorithm")).filter((l) => l.status === "active");
  if (!datasets.length || !algorithms.length) {
    put(main, emptyState(!datasets.length ? "No active dataset is listed yet." : "No active algorithm is listed yet.",
      "A job needs at least one dataset and one algorithm: come back once sellers have published them."));
    return;
  }
  const reader = pageChain();
  if (!reader || !contracts().ComputeJobs || !contracts().Market) {
    put(main, errorState(new Error("This page knows no chain RPC or contract addresses, so it cannot read the " +
      "price from the chain nor send the request.")));
    return;
  }
  const wanted = new URLSearchParams(location.search);
  const preDatasets = new Set(wanted.getAll("dataset"));
  const columnsBox = h("div", { id: "columns" });
  const byId = new Map(datasets.map((l) => [String(l.id), l]));

  // Program order is the order the buyer ticks the datasets in (data_0 first), as `dx job request -d` lists them.
  const order = datasets.filter((l) => preDatasets.has(String(l.id))).map((l) => String(l.id));
  const pickedIds = () => order.filter((id) => form.querySelector(`#dataset-${id}`)?.checked);

  function drawColumns() {
    const picked = pickedIds().map((id) => byId.get(id));
    // Kept by dataset, so that ticking another dataset keeps the columns already chosen.
    const shown = new Map([...columnsBox.children].map((el) => [el.dataset.columnsOf, el]));
    columnsBox.replaceChildren(...picked.map((l) => {
      if (shown.has(String(l.id))) return shown.get(String(l.id));
      const cols = featureColumns(l);
      if (!cols.length) {
        return h("p", { class: "muted", "data-columns-of": l.id }, `Dataset #${l.id}: its whole feature array is used.`);
      }
      return checkboxes(`Columns of dataset #${l.id} (none ticked: all its features, in listed order)`,
        `col-${l.id}`, cols.map((c) => ({ value: c.name, label: `${c.name}${c.dtype ? ` (${c.dtype})` : ""}` })),
        { "data-columns-of": l.id });
    }));
  }

  const later = new Date(Date.now() + DEFAULT_DEADLINE_S * 1000);
  const form = h("form", { id: "buy-form", "aria-label": "The job to request", novalidate: true,
    onsubmit: (ev) => { ev.preventDefault(); review(); } },
  checkboxes("Datasets (program order data_0, data_1, … is the order you tick them in)", "dataset", datasets.map((l) => ({
    value: String(l.id), checked: preDatasets.has(String(l.id)),
    label: `#${l.id} ${l.title} — ${formatWei(l.priceWei)} per use` }))),
  columnsBox,
  h("div", { class: "filters" },
    field("algorithm", "Algorithm", h("select", { id: "algorithm", name: "algorithm", required: true },
      algorithms.map((l) => h("option", { value: l.id, selected: wanted.get("algorithm") === String(l.id) },
        `#${l.id} ${l.title} — ${formatWei(l.priceWei)} per use`)))),
    field("receiver", "Result receiver", h("input", { id: "receiver", name: "receiver", value: session.address,
      spellcheck: "false", autocomplete: "off", "aria-describedby": "receiver-hint" }),
    "You, or a regulator's address: only its registered key opens the result."),
    field("deadline", "Deadline (UTC)", h("input", { id: "deadline", name: "deadline", type: "datetime-local",
      value: utcInput(Math.floor(later.getTime() / 1000)), "aria-describedby": "deadline-hint" }),
    "After it you may reclaim the escrow of a job that has not completed.")),
  h("fieldset", { class: "filters" }, h("legend", {}, "Public parameters"),
    field("min_cohort", "Minimum cohort (rows)", h("input", { id: "min_cohort", name: "min_cohort", inputmode: "numeric",
      "aria-describedby": "min_cohort-hint" }), "Raised to the datasets' policy floor when it is higher."),
    field("cohort_column", "Cohort filter: column index", h("input", { id: "cohort_column", name: "cohort_column",
      inputmode: "numeric", "aria-describedby": "cohort_column-hint" }), "Only rows with min ≤ value < max count."),
    field("cohort_min", "Cohort minimum", h("input", { id: "cohort_min", name: "cohort_min", inputmode: "decimal" })),
    field("cohort_max", "Cohort maximum", h("input", { id: "cohort_max", name: "cohort_max", inputmode: "decimal" })),
    field("params_json", "Other parameters (JSON)", h("textarea", { id: "params_json", name: "params_json", rows: 2,
      spellcheck: "false", "aria-describedby": "params_json-hint" }), "e.g. {\"hist_edges\": {\"0\": [0, 30, 60]}}")),
  h("button", { type: "submit", class: "button", id: "review" }, "Review the job"));
  form.addEventListener("change", (ev) => {
    if (ev.target.name !== "dataset") return;
    const at = order.indexOf(ev.target.value);
    if (at >= 0) order.splice(at, 1);
    if (ev.target.checked) order.push(ev.target.value);
    drawColumns();
  });
  const reviewBox = h("section", { id: "review-box", "aria-labelledby": "h-review", "aria-live": "polite" });
  put(main, form, reviewBox);
  drawColumns();

  async function review() {
    const button = form.querySelector("#review");
    button.disabled = true;
    reviewBox.replaceChildren(h("h2", { id: "h-review", tabindex: "-1" }, "Review"),
      h("p", { class: "loading", role: "status" }, "Compiling the program and reading the price from the chain…"));
    try {
      reviewBox.replaceChildren(h("h2", { id: "h-review", tabindex: "-1" }, "Review"), ...await reviewJob());
      reviewBox.querySelector("h2").focus();
    } catch (err) {
      reviewBox.replaceChildren(h("h2", { id: "h-review", tabindex: "-1" }, "Review"), errorState(err));
    } finally {
      button.disabled = false;
    }
  }

  async function reviewJob() {
    const ids = pickedIds();
    if (!ids.length) throw new Error("Pick at least one dataset.");
    const algorithmId = form.querySelector("#algorithm").value;
    const receiver = form.querySelector("#receiver").value.trim();
    if (!isAddress(receiver)) throw new Error(`The result receiver “${receiver}” is not an address (0x and 40 hex digits).`);
    const deadlineText = form.querySelector("#deadline").value;
    const deadline = Math.floor(Date.parse(`${deadlineText}Z`) / 1000);
    if (!Number.isFinite(deadline)) throw new Error(`The deadline “${deadlineText}” is not a date and time.`);
    const inputs = ids.map((id, k) => {
      const cols = [...form.querySelectorAll(`input[name="col-${id}"]:checked`)].map((x) => x.value);
      return { source: Number(id), name: `data_${k}`, columns: cols.length ? cols : null };
    });
    const params = paramsFromForm(form);
    const compiled = await api("/programs/compile", { method: "POST",
      body: { algorithm_id: Number(algorithmId), inputs, params, receiver } });
    const datasetIds = compiled.dataset_ids.map((x) => BigInt(x));
    const [q, terms, registeredKey] = await Promise.all([
      quote(reader, datasetIds, BigInt(algorithmId), session.address),
      callView(reader, contracts().Registry, "Registry", "clusterTerms"),
      callView(reader, contracts().Registry, "Registry", "encryptionKeyOf", receiver),
    ]);
    const nodeFee = BigInt(terms.nodeFee);
    const prices = q.prices.map((p) => BigInt(p));
    const escrow = prices.reduce((a, b) => a + b, 0n) + 3n * nodeFee;
    // The spec the nodes will fetch by paramsHash: its bytes must hash to it and name this receiver's key.
    const specBytes = await apiBytes(`/blobs/${compiled.spec_cid}`);
    const specDigest = `0x${bytesToHex(await sha256(specBytes))}`;
    const spec = JSON.parse(new TextDecoder().decode(specBytes));
    const keyOk = registeredKey["0"].toLowerCase() === compiled.result_key.toLowerCase()
      && `0x${spec.receiver.x25519_public}`.toLowerCase() === registeredKey["0"].toLowerCase()
      && spec.receiver.address.toLowerCase() === receiver.toLowerCase();
    const specDatasets = spec.inputs.filter((x) => x.kind === "dataset").map((x) => String(x.listing_id));
    const specOk = specDigest === compiled.params_hash.toLowerCase() && spec.algorithm.name === compiled.algorithm
      && specDatasets.join(",") === ids.join(",");
    const policies = await Promise.all(q.policyHashes.map((hash) => policyOf(hash).then((doc) => ({ hash, doc }))
      .catch((err) => ({ hash, err }))));
    const n = datasetIds.length;
    const priceRows = q.owners.map((owner, i) => h("tr", {},
      h("td", {}, i < n ? `Dataset #${datasetIds[i]}` : `Algorithm #${algorithmId}`), h("td", {}, hexCode(owner, 6)),
      h("td", {}, formatWei(prices[i].toString())),
      h("td", {}, (BigInt(q.preApproved) >> BigInt(i)) & 1n || owner.toLowerCase() === session.address.toLowerCase()
        ? "pre-approved" : "must approve")));
    priceRows.push(h("tr", {}, h("td", {}, "Compute nodes"), h("td", {}, "3 nodes"),
      h("td", {}, `3 × ${formatWei(nodeFee.toString())}`), h("td", {}, "—")));
    const send = h("button", { type: "button", class: "button", id: "request-job" },
      `Request the job and escrow ${formatWei(escrow.toString())}`);
    const outcome = h("div", { id: "request-outcome", "aria-live": "polite" });
    send.addEventListener("click", async () => {
      send.disabled = true;
      outcome.replaceChildren(h("p", { class: "muted", role: "status" }, "Waiting for your wallet to sign…"));
      try {
        const { txHash, receipt } = await sendContractTx("ComputeJobs", "request", [{
          datasetIds, algorithmId: BigInt(algorithmId), paramsHash: compiled.params_hash,
          programHash: compiled.program_hash, resultReceiver: receiver, resultKey: compiled.result_key,
          deadline: BigInt(deadline) }], { value: escrow,
          onStatus: (text) => outcome.replaceChildren(h("p", { class: "muted", role: "status" }, text)) });
        const jobId = await requestedJobId(receipt);
        outcome.replaceChildren(h("p", { class: "tx-ok", role: "status", id: "requested" }, badge("ok", "Requested"),
          ` Job #${jobId} is on-chain (transaction `, hexCode(txHash, 8), "). ",
          link(`jobs/${jobId}`, `Follow job #${jobId}`)));
        outcome.querySelector("a")?.focus();
      } catch (err) {
        outcome.replaceChildren(h("p", { class: "error", role: "alert", id: "request-error" }, err.message));
        send.disabled = false;
      }
    });
    return [
      h("h3", {}, "Price and escrow (Market.quote, from the chain)"),
      table("What each party is paid per use", ["Listing", "Owner", "Price", "Approval"], priceRows, { id: "prices" }),
      dl([["Escrow", h("strong", { id: "escrow", "data-wei": escrow.toString() },
        `${formatWei(escrow.toString())} (${escrow} wei)`)],
      ["Deadline", `${new Date(deadline * 1000).toISOString().replace("T", " ").slice(0, 16)} UTC`],
      ["Result receiver", hexCode(receiver, 8)]]),
      h("h3", {}, "Policies that apply"),
      h("div", { id: "policies" }, policies.map(({ hash, doc, err }, i) => h("div", { class: "policy-of",
        "data-dataset": String(datasetIds[i]) }, h("p", {}, h("strong", {}, `Dataset #${datasetIds[i]}`), ": ",
        hash === ZERO32 ? "the default policy" : ["policy ", hexCode(hash, 8)]),
      err ? errorState(err) : policyWords(doc || DEFAULT_POLICY)))),
      h("h3", {}, "Program hash"),
      h("p", {}, h("code", { id: "program-hash", class: "hex program-hash" }, compiled.program_hash)),
      h("p", { class: "muted", id: "program-note" }, `It binds ${compiled.algorithm} version ` +
        `${compiled.algorithm_version} compiled for these inputs (${compiled.inputs.map((x) => `${x.name} ` +
        `${x.shape.join(" × ")}`).join(", ")}) and these public parameters. Every owner signs over it and every ` +
        "compute node recompiles the spec and refuses to run a program whose hash differs."),
      dl([["Parameters compiled", h("code", { id: "compiled-params" }, JSON.stringify(compiled.params))],
        ["Outputs", compiled.outputs.join(", ")],
        ["Spec (paramsHash)", h("span", {}, hexCode(compiled.params_hash, 10), " ", specOk
          ? badge("ok", "the stored spec hashes to it and names these inputs")
          : badge("bad", "the stored spec does not match what was asked"))],
        ["Result key", h("span", {}, hexCode(compiled.result_key, 10), " ", keyOk
          ? badge("ok", "the receiver's key registered on-chain")
          : badge("bad", "not the receiver's registered key"))]]),
      specOk && keyOk ? h("div", { class: "actions" }, send) : errorState(new Error("The compiled spec does not " +
        "check out against the chain: do not request this job.")),
      outcome,
    ];
  }
}

/** The job id of the JobRequested event in a ComputeJobs.request receipt. */
async function requestedJobId(receipt) {
  const topic = topicOf(fragment(await contractAbi("ComputeJobs"), "event", "JobRequested"));
  const computeJobs = contracts().ComputeJobs.toLowerCase();
  const log = (receipt.logs || []).find((l) => l.address.toLowerCase() === computeJobs && l.topics[0] === topic);
  if (!log) throw new Error("the request was mined but its receipt holds no JobRequested event");
  return Number(BigInt(log.topics[1]));
}
