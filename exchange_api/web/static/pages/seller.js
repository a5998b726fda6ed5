// Seller view: my listings with usage and earnings, and the requests waiting for my signed approval. Before
// it signs, the page checks the request itself against the chain and shows in words what is approved.

import { api, apiBytes } from "../api.js";
import { callView, ChainReader, cidFromDigest, contracts, jobTerms, rpcChainId } from "../chain.js";
import { canonicalJson, parseExact, toPlain } from "../canonical.js";
import { badge, emptyState, errorState, formatWei, h, hexCode, table, put, gate } from "../dom.js";
import { toChecksumAddress } from "../keccak.js";
import { bytesToHex, sha256 } from "../merkle.js";
import { trustAnchors } from "../trust.js";
import { signTypedData, walletChainId } from "../wallet.js";
import { describeValue, policyWords } from "../policy.js";
import { usageMeter } from "./catalog.js";

const SIGNATURE_LIFETIME_S = 3600;
const DOMAIN_NAME = "DataExchange ComputeJobs";
const DOMAIN_VERSION = "1";
const TYPES = {
  EIP712Domain: [["name", "string"], ["version", "string"], ["chainId", "uint256"], ["verifyingContract", "address"]],
  Approval: [["jobId", "uint256"], ["programHash", "bytes32"], ["owner", "address"], ["nonce", "uint256"],
    ["deadline", "uint256"]],
  Decline: [["jobId", "uint256"], ["owner", "address"], ["nonce", "uint256"], ["deadline", "uint256"]],
};

const lower = (v) => String(v ?? "").toLowerCase();
const hex32 = (v) => lower(v).replace(/^0x/, "");

/** A fresh approval nonce: 48 random bits keep it exact as a JS number and make reuse negligible. */
function freshNonce() {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return b.reduce((n, x) => n * 256 + x, 0);
}

/**
 * Where approvals are checked: the user's own trust anchors, else the deployment the console was served with.
 * Null when neither names a chain RPC and a ComputeJobs contract.
 */
export function jobsAnchor() {
  const anchors = trustAnchors();
  if (anchors) {
    return { source: "your trust anchors", rpcUrl: anchors.rpcUrl, computeJobs: anchors.computeJobs,
      chainId: anchors.chainId };
  }
  const { rpcUrl } = document.body.dataset;
  const computeJobs = contracts().ComputeJobs;
  return rpcUrl && computeJobs ? { source: "the deployment this console was served with (set your own trust " +
    "anchors to check against yours)", rpcUrl, computeJobs: lower(computeJobs), chainId: null } : null;
}

const sameFields = (got, want) => Array.isArray(got) && got.length === want.length
  && got.every((f, k) => f && f.name === want[k][0] && f.type === want[k][1]);

/**
 * Refuse to sign typed data that is not exactly the approval (or decline) the page checked: `expect` holds
 * {jobId, programHash, owner, chainId, computeJobs, nonce, deadline}, all from the chain or from this page.
 */
export function checkTyped(typed, expect, decision) {
  const m = typed && typed.message;
  const d = (typed && typed.domain) || {};
  const kind = decision === "approve" ? "Approval" : "Decline";
  const problems = [];
  if (!m || typed.primaryType !== kind) problems.push(`it is not a ${kind} message`);
  else {
    if (d.name !== DOMAIN_NAME || String(d.version) !== DOMAIN_VERSION) {
      problems.push(`its domain is “${d.name}” version ${d.version}, not “${DOMAIN_NAME}” version ${DOMAIN_VERSION}`);
    }
    if (Number(d.chainId) !== expect.chainId) problems.push(`its domain names chain ${d.chainId}, not chain ${expect.chainId}`);
    if (lower(d.verifyingContract) !== lower(expect.computeJobs)) {
      problems.push(`its domain's verifying contract is ${d.verifyingContract}, not the ComputeJobs contract ` +
        `${expect.computeJobs}`);
    }
    const types = typed.types || {};
    if (!sameFields(types.EIP712Domain, TYPES.EIP712Domain) || !sameFields(types[kind], TYPES[kind])
      || Object.keys(types).some((k) => !(k === "EIP712Domain" || k === kind))) {
      problems.push(`its types are not the ${kind} type ComputeJobs verifies`);
    }
    if (Number(m.jobId) !== expect.jobId) problems.push(`it names job ${m.jobId}, not ${expect.jobId}`);
    if (lower(m.owner) !== lower(expect.owner)) problems.push(`it is for owner ${m.owner}, not you (${expect.owner})`);
    if (String(m.nonce) !== String(expect.nonce) || String(m.deadline) !== String(expect.deadline)) {
      problems.push("its nonce or deadline is not the one this page asked for");
    }
    if (decision === "approve" && hex32(m.programHash) !== hex32(expect.programHash)) {
      problems.push(`it approves program ${m.programHash}, not the job's on-chain ${expect.programHash}`);
    }
  }
  if (problems.length) throw new Error(`The exchange's ${kind} message was not signed: ${problems.join("; ")}.`);
}

/** Seconds since the epoch by the chain's clock when it can be read (a test chain may run ahead). */
async function chainNow(reader) {
  const wall = Math.floor(Date.now() / 1000);
  if (!reader) return wall;
  try {
    const block = await reader.call("eth_getBlockByNumber", ["latest", false]);
    return Math.max(wall, Number(BigInt(block.timestamp)));
  } catch {
    return wall;
  }
}

/** Everything the page checks before an owner signs: {facts (for display), problems (each refuses)}. */
async function review(job, me) {
  const problems = [];
  const anchor = jobsAnchor();
  if (!anchor) {
    return { anchor, problems: ["this page knows no chain RPC and ComputeJobs contract to check the request " +
      "against: set your trust anchors"], facts: null };
  }
  const reader = new ChainReader(anchor.rpcUrl, "");
  const facts = { anchor, reader };
  try {
    facts.chainId = await rpcChainId(reader);
    if (anchor.chainId !== null && facts.chainId !== anchor.chainId) {
      problems.push(`the RPC ${anchor.rpcUrl} serves chain ${facts.chainId}, your trust anchors say chain ${anchor.chainId}`);
    }
    const wallet = await walletChainId();
    if (wallet !== facts.chainId) problems.push(`your wallet signs for chain ${wallet}, the job lives on chain ${facts.chainId}`);
    const onchain = await jobTerms(reader, anchor.computeJobs, job.id);
    const t = onchain.terms;
    facts.terms = t;
    facts.deadline = Number(onchain.deadline);
    facts.buyer = onchain.buyer;
    // The exchange's description of the job against the chain's record.
    const apiSays = [["program hash", hex32(job.program_hash), hex32(t.programHash)],
      ["parameter hash", hex32(job.params_hash), hex32(t.paramsHash)],
      ["datasets", job.dataset_ids.map(String).join(","), t.datasetIds.map(String).join(",")],
      ["algorithm", String(job.algorithm_id), String(t.algorithmId)], ["buyer", lower(job.buyer), lower(onchain.buyer)]];
    for (const [what, a, c] of apiSays.filter(([, a, c]) => a !== c)) {
      problems.push(`the exchange lists ${what} ${a}, the chain records ${c}`);
    }
    if (!t.owners.some((o) => lower(o) === lower(me))) problems.push(`you (${me}) own no listing of this job on-chain`);
    const market = (await callView(reader, anchor.computeJobs, "ComputeJobs", "market"))["0"];
    facts.algorithm = (await callView(reader, market, "Market", "algorithm", t.algorithmId))["0"];
    facts.datasets = new Map(await Promise.all(t.datasetIds.map(async (id) =>
      [String(id), (await callView(reader, market, "Market", "dataset", id))["0"]])));
  } catch (err) {
    problems.push(`the job could not be checked on-chain: ${err.message}`);
    return { anchor, problems, facts };
  }
  await checkSpec(facts, problems);
  facts.policies = new Map(await Promise.all(facts.terms.datasetIds.map(async (id, k) =>
    [String(id), await policyOf(facts, id, k)])));
  return { anchor, problems, facts };
}

const ZERO_HASH = /^(0x)?0{64}$/;

/**
 * The policy in force for dataset `id` (position `k`): the document behind the hash the job's terms (or the
 * listing) commit to, fetched and hashed here; the catalog's copy only where the chain holds no policy hash.
 * {policy, source, hash} with policy null when it cannot be shown.
 */
async function policyOf(facts, id, k) {
  const onchain = (facts.terms.policyHashes || [])[k] ?? facts.datasets.get(String(id))?.policyHash;
  if (onchain === undefined) {
    try {
      const l = await api(`/catalog/datasets/${id}`, { auth: false });
      const policy = l.policy || (l.extra && l.extra.policy) || null;
      return { policy, source: "as the exchange's catalog describes it (this chain commits to no policy)" };
    } catch (err) {
      return { policy: null, source: `the catalog could not be read: ${err.message}` };
    }
  }
  if (ZERO_HASH.test(onchain)) return { policy: null, hash: onchain, source: "the listing commits to no policy: " +
    "the nodes apply the default (groups of at least 10, ID columns as join keys only, no pre-approval)" };
  try {
    const bytes = await apiBytes(`/blobs/${cidFromDigest(onchain)}`);
    if (bytesToHex(await sha256(bytes)) !== hex32(onchain)) {
      return { policy: null, hash: onchain, source: "the policy document the exchange served does not hash to " +
        "the on-chain commitment" };
    }
    return { policy: toPlain(parseExact(new TextDecoder().decode(bytes))), hash: onchain,
      source: "the document the job's on-chain policy hash commits to, checked here" };
  } catch (err) {
    return { policy: null, hash: onchain, source: `its policy document could not be fetched: ${err.message}` };
  }
}

/** Fetch the spec by the on-chain paramsHash, hash it here, and hold it against the on-chain terms. */
async function checkSpec(facts, problems) {
  const t = facts.terms;
  const cid = cidFromDigest(t.paramsHash);
  facts.specCid = cid;
  let bytes;
  try {
    bytes = await apiBytes(`/blobs/${cid}`);
  } catch (err) {
    problems.push(`the job's spec ${cid} could not be fetched: ${err.message}`);
    return;
  }
  const digest = bytesToHex(await sha256(bytes));
  if (digest !== hex32(t.paramsHash)) {
    problems.push(`the spec the exchange served hashes to 0x${digest}, but the job commits to paramsHash ${t.paramsHash}`);
    return;
  }
  let spec;
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    const exact = parseExact(text);
    if (canonicalJson(exact) !== text) problems.push("the spec is not in canonical form: every node would refuse it");
    // Parameters are shown with the spec's own spelling of numbers; everything else is compared as plain values.
    spec = { ...toPlain(exact), exactParams: exact.params };
  } catch (err) {
    problems.push(`the spec is not JSON: ${err.message}`);
    return;
  }
  facts.spec = spec;
  const algo = facts.algorithm;
  if (!spec.algorithm || spec.algorithm.name !== algo.name || spec.algorithm.version !== algo.version) {
    problems.push(`the spec runs ${spec.algorithm?.name} ${spec.algorithm?.version}, but algorithm listing ` +
      `#${t.algorithmId} is ${algo.name} ${algo.version}`);
  }
  const receiver = spec.receiver || {};
  if (lower(receiver.address) !== lower(t.resultReceiver)) {
    problems.push(`the spec sends the result to ${receiver.address}, the job to ${t.resultReceiver}`);
  }
  if (hex32(receiver.x25519_public) !== hex32(t.resultKey)) {
    problems.push(`the spec seals the result to key ${receiver.x25519_public}, the job to ${t.resultKey}`);
  }
  const inputs = Array.isArray(spec.inputs) ? spec.inputs : [];
  const used = new Set();
  for (const input of inputs) {
    const id = String(input.listing_id);
    if (input.kind === "dataset") {
      const record = facts.datasets.get(id);
      if (!record) problems.push(`input ${input.name} reads dataset #${id}, which the job does not pay for`);
      else if (hex32(record.manifestHash) !== hex32(input.manifest_hash)) {
        problems.push(`input ${input.name} names manifest ${input.manifest_hash}, dataset #${id} commits to ` +
          `${record.manifestHash}`);
      }
      used.add(id);
    } else if (input.kind === "model") {
      if (id !== String(t.algorithmId)) problems.push(`input ${input.name} reads model #${id}, not the job's algorithm`);
    } else {
      problems.push(`input ${input.name} has kind “${input.kind}”, which this page cannot describe`);
    }
  }
  for (const id of t.datasetIds.map(String).filter((d) => !used.has(d))) {
    problems.push(`dataset #${id} is paid for but no input of the spec reads it`);
  }
}

/** The request in words, from the checked spec and the on-chain terms. */
function reviewView(job, me, result, titles) {
  const { facts, problems } = result;
  const out = h("div", { class: "review", id: `review-${job.id}` });
  if (facts && facts.terms) {
    const t = facts.terms;
    const spec = facts.spec || null;
    const algo = facts.algorithm;
    const owner = (o) => (lower(o) === lower(me) ? "you" : h("code", {}, toChecksumAddress(o)));
    const labels = [...t.datasetIds.map((d) => titles.get(`dataset:${d}`) || `dataset #${d}`),
      titles.get(`algorithm:${t.algorithmId}`) || `algorithm #${t.algorithmId}`];
    const total = t.prices.reduce((a, b) => a + b, 0n) + 3n * t.nodeFee;
    const params = spec && spec.exactParams && typeof spec.exactParams === "object"
      ? Object.entries(spec.exactParams) : [];
    const receiver = lower(t.resultReceiver) === lower(facts.buyer) ? "the buyer" : "not the buyer (a regulator)";
    put(out, h("h4", {}, "What you would approve"), h("dl", { class: "facts" },
      h("dt", {}, "Algorithm"), h("dd", { "data-fact": "algorithm" }, spec ? `${spec.algorithm.name} version ` +
        `${spec.algorithm.version}` : `${algo.name} version ${algo.version}`, ` — listing #${t.algorithmId}, code hash `,
      hexCode(algo.codeHash, 8)),
      h("dt", {}, "Public parameters"), h("dd", { "data-fact": "params" }, !spec ? "—" : params.length
        ? h("ul", {}, params.map(([k, v]) => h("li", {}, h("code", {}, k), ` = ${describeValue(v)}`))) : "none"),
      h("dt", {}, "Receiver"), h("dd", { "data-fact": "receiver" }, h("code", {}, toChecksumAddress(t.resultReceiver)), ` (${receiver}); ` +
        "the result is sealed to its key ", hexCode(t.resultKey, 8)),
      h("dt", {}, "Price"), h("dd", { "data-fact": "price" }, h("ul", {}, t.prices.map((p, k) => h("li", {},
        `${labels[k]}: ${formatWei(p.toString())} to `, owner(t.owners[k]))),
      h("li", {}, `compute nodes: ${formatWei((3n * t.nodeFee).toString())}`),
      h("li", {}, h("strong", {}, `total escrow ${formatWei(total.toString())}`)))),
      h("dt", {}, "Program hash"), h("dd", {}, h("code", { class: "program-hash" }, t.programHash),
        h("span", { class: "muted" }, " This page cannot recompile the program in a browser: each node recompiles " +
          "it from the spec and refuses the job if the hash differs."))));
    if (spec) {
      put(out, table(`Inputs of job ${job.id}, in program order`, ["Input", "Kind", "Listing", "Array", "Columns"],
        (spec.inputs || []).map((i) => h("tr", {}, h("td", {}, h("code", {}, i.name)), h("td", {}, i.kind),
          h("td", {}, i.kind === "dataset" ? titles.get(`dataset:${i.listing_id}`) || `dataset #${i.listing_id}`
            : `model #${i.listing_id}`),
          h("td", {}, h("code", {}, i.array)),
          h("td", {}, i.columns === null || i.columns === undefined ? "all columns" : i.columns.join(", ")))),
        { id: `inputs-${job.id}` }));
      put(out, h("h4", {}, "Policies of the datasets"), h("dl", { class: "facts", id: `policies-${job.id}` },
        t.datasetIds.flatMap((d) => {
          const p = (facts.policies && facts.policies.get(String(d))) || { policy: null, source: "" };
          return [h("dt", {}, titles.get(`dataset:${d}`) || `dataset #${d}`),
            h("dd", { "data-policy": d }, p.policy ? policyWords(p.policy) : null,
              h("span", { class: "muted" }, ` ${p.source}`), p.hash ? [" (", hexCode(p.hash, 8), ")"] : null)];
        })));
    }
  }
  const where = result.anchor ? [`Checked against ${result.anchor.source}: ComputeJobs `,
    h("code", {}, result.anchor.computeJobs), " via ", h("code", {}, result.anchor.rpcUrl), "."] : "";
  if (problems.length) {
    put(out, h("div", { class: "error refusal", role: "alert", id: `refusal-${job.id}` },
      h("p", {}, h("strong", {}, `This page will not sign an approval of job ${job.id}: `),
        "what the exchange shows does not match the chain."),
      h("ul", {}, problems.map((p) => h("li", {}, p))), h("p", { class: "muted" }, where)));
  } else {
    put(out, h("p", { class: "checked", id: `checked-${job.id}` }, badge("ok", "Checked"),
      " The spec hashes to the job's on-chain paramsHash, its algorithm, inputs and receiver match the job's " +
      "on-chain terms and listings. ", where));
  }
  return out;
}

async function decide(job, decision, me, result) {
  const { facts } = result;
  const anchor = result.anchor;
  if (!anchor) throw new Error(result.problems[0]);
  const chainId = facts && facts.chainId !== undefined ? facts.chainId : await walletChainId();
  if (decision === "approve" && result.problems.length) {
    throw new Error(`The approval was not signed: ${result.problems.join("; ")}.`);
  }
  const nonce = freshNonce();
  const deadline = (await chainNow(facts && facts.reader)) + SIGNATURE_LIFETIME_S;
  const typed = await api(`/jobs/${job.id}/typed-data`, { query: { nonce, deadline, decision } });
  checkTyped(typed, { jobId: job.id, programHash: facts && facts.terms ? facts.terms.programHash : null, owner: me,
    chainId, computeJobs: anchor.computeJobs, nonce, deadline }, decision);
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
  const checked = await review(job, me).catch((err) => ({ anchor: jobsAnchor(), facts: null,
    problems: [`the request could not be checked: ${err.message}`] }));
  const act = (decision) => async () => {
    for (const b of buttons.querySelectorAll("button")) b.disabled = true;
    status.replaceChildren(h("p", { class: "loading" }, "Waiting for your wallet's signature…"));
    try {
      const result = await decide(job, decision, me, checked);
      buttons.remove();
      status.replaceChildren(outcome(result, decision));
    } catch (err) {
      status.replaceChildren(errorState(err));
      for (const b of buttons.querySelectorAll("button")) b.disabled = b.dataset.refused === "true";
    }
    const first = status.firstElementChild;
    if (first) {
      first.setAttribute("tabindex", "-1");
      first.focus();
    }
  };
  const refused = checked.problems.length > 0;
  buttons.append(
    h("button", { type: "button", class: "button", onclick: act("approve"), "aria-label": `Approve job ${job.id}`,
      disabled: refused, "data-refused": String(refused),
      "aria-describedby": refused ? `refusal-${job.id}` : `checked-${job.id}` }, "Approve (sign)"),
    h("button", { type: "button", class: "button button-danger", onclick: act("decline"),
      "aria-label": `Decline job ${job.id}` }, "Decline"));
  return h("li", { class: "card", "data-job": job.id, "data-checked": refused ? "refused" : "ok" },
    h("h3", {}, `Job ${job.id}`),
    h("dl", { class: "facts" },
      h("dt", {}, "Algorithm"), h("dd", {}, link(`algorithms/${job.algorithm_id}`, algo)),
      h("dt", {}, "Datasets"), h("dd", {}, job.dataset_ids.map((d, i) => [i ? ", " : "",
        link(`datasets/${d}`, titles.get(`dataset:${d}`) || `dataset #${d}`)])),
      h("dt", {}, "Buyer"), h("dd", {}, h("code", {}, job.buyer)),
      h("dt", {}, "Escrow"), h("dd", {}, formatWei(job.escrow_wei)),
      h("dt", {}, "Deadline"), h("dd", {}, new Date(job.deadline * 1000).toISOString())),
    reviewView(job, me, checked, titles),
    h("p", { class: "muted" }, "Approving signs an EIP-712 message in your wallet for exactly this program hash, " +
      "on this chain and this ComputeJobs contract; the exchange relays it and pays the gas."),
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
        h("td", {}, link(`${u.kind}s/${u.id}`, u.title || `${u.kind} #${u.id}`),
          " ", link(`${u.kind}s/${u.id}#change`, `Change the terms of ${u.kind} #${u.id}`)),
        h("td", {}, u.status),
        h("td", {}, usageMeter({ uses: u.uses, maxUses: u.max_uses })), h("td", {}, formatWei(u.price_wei)),
        h("td", {}, String(u.completed_jobs)), h("td", {}, formatWei(u.earned_wei)))), { id: "my-listings" })
      : emptyState("You have no listings yet.", "List a dataset or an algorithm with the dx command line.")));
  const waiting = requests.filter((j) => (j.pending_owners || []).some((o) => o.toLowerCase() === me.toLowerCase()));
  const titles = await titlesFor(waiting);
  put(main, h("section", { "aria-labelledby": "h-pending" }, h("h2", { id: "h-pending" },
    `Requests awaiting your approval (${waiting.length})`),
    waiting.length ? h("ul", { class: "cards requests", id: "pending" }, await Promise.all(waiting.map((j) => requestCard(j, me, titles, link))))
      : emptyState("No request is waiting for your approval.")));
}
