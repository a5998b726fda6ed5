// Trust anchors: the chain RPC, chain id and contract addresses the user's on-chain checks run against,
// entered once and kept in this browser. The exchange's own values are shown as a suggestion to accept or not.

import { ChainReader, rpcChainId } from "../chain.js";
import { badge, dl, h, hexCode, put } from "../dom.js";
import { ANCHOR_FIELDS, forgetTrustAnchors, normalizeAnchors, saveTrustAnchors, suggestedAnchors,
  suggestionDiffers, trustAnchors, TrustError } from "../trust.js";

const HINTS = {
  rpcUrl: "A JSON-RPC endpoint you trust: your own node, or your provider's. Not necessarily the exchange's.",
  chainId: "The chain the exchange's contracts live on (1 for Ethereum mainnet, 31337 for a local Anvil).",
  notary: "The Notary contract that anchors the transparency log's checkpoints.",
  computeJobs: "The ComputeJobs contract: the verifying contract of every approval you sign.",
};

/** The anchors in force, always on view: the dashboard and the seller page show this panel. */
export function trustPanel(link) {
  const anchors = trustAnchors();
  const box = h("section", { "aria-labelledby": "h-trust", id: "trust-anchors", class: "trust" },
    h("h2", { id: "h-trust" }, "Your trust anchors"));
  if (!anchors) {
    return put(box, h("div", { class: "alerts-box", role: "note", id: "trust-missing" },
      h("p", {}, h("strong", {}, "Not set. "), "Nothing on this page is checked on-chain until you say which chain " +
        "and which Notary contract to trust: the exchange you audit does not get to choose them."),
      h("p", {}, link("trust", "Set your trust anchors"))));
  }
  put(box, h("p", { class: "muted" }, "Every on-chain check in this browser runs against these values, saved here " +
    `on ${anchors.savedAt ? anchors.savedAt.slice(0, 10) : "an earlier visit"}. `, link("trust", "Change them")),
  dl(ANCHOR_FIELDS.map(([key, label]) => [label, key === "rpcUrl" || key === "chainId"
    ? h("code", { "data-anchor": key }, String(anchors[key]))
    : h("code", { "data-anchor": key, class: "hex" }, anchors[key])])));
  const differ = suggestionDiffers(anchors, suggestedAnchors());
  if (differ.length) {
    put(box, h("div", { class: "alerts-box", role: "note", id: "trust-suggestion" },
      h("p", {}, badge("warn", "The exchange suggests other values"), " They are not used:"),
      h("ul", {}, differ.map(([label, yours, theirs]) => h("li", {}, `${label}: the exchange says `,
        h("code", {}, theirs), ", yours is ", h("code", {}, yours), ".")))));
  }
  return box;
}

/** Check the anchors against the chain they name: the chain id it serves and code at both contracts. */
async function probe(anchors) {
  const reader = new ChainReader(anchors.rpcUrl, anchors.notary);
  const served = await rpcChainId(reader);
  if (served !== anchors.chainId) {
    throw new TrustError(`the RPC at ${anchors.rpcUrl} serves chain ${served}, not chain ${anchors.chainId}`);
  }
  for (const [key, label] of [["notary", "Notary"], ["computeJobs", "ComputeJobs"]]) {
    const code = await reader.call("eth_getCode", [anchors[key], "latest"]);
    if (!code || code === "0x") throw new TrustError(`no contract is deployed at the ${label} address ${anchors[key]}`);
  }
}

function field(key, label, value) {
  const id = `trust-${key}`;
  return h("div", { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name: key, value: value ?? "", required: true, autocomplete: "off", spellcheck: "false",
      "aria-describedby": `${id}-hint`, inputmode: key === "chainId" ? "numeric" : "url" }),
    h("span", { class: "muted hint", id: `${id}-hint` }, HINTS[key]));
}

export async function render(main, _params, { link, notify }) {
  const anchors = trustAnchors();
  const suggestion = suggestedAnchors();
  put(main, h("p", { class: "crumbs" }, link("audit", "Regulator dashboard"), " / Trust anchors"),
    h("h1", {}, "Trust anchors"),
    h("p", { class: "lede" }, "The console checks the exchange against the chain. Which chain, and which contracts " +
      "on it, must come from you: an exchange that lies could otherwise point this page at a chain or a Notary of " +
      "its own. Enter them once; this browser keeps them (localStorage) until you change them."));
  const status = h("div", { id: "trust-status", role: "status", "aria-live": "polite" },
    anchors ? badge("ok", "Saved in this browser") : badge("warn", "Not set yet"));
  const problem = h("div", { id: "trust-error", role: "alert" });
  const form = h("form", { id: "trust-form", class: "filters", "aria-labelledby": "h-form", novalidate: true },
    ANCHOR_FIELDS.map(([key, label]) => field(key, label, anchors ? anchors[key] : "")),
    h("div", { class: "actions" },
      h("button", { class: "button", type: "submit" }, "Check and save"),
      anchors ? h("button", { class: "button button-quiet", type: "button", id: "trust-forget",
        onclick: () => {
          forgetTrustAnchors();
          notify("Trust anchors forgotten: nothing is checked on-chain until you set them again.", "info");
          main.replaceChildren();
          render(main, _params, { link, notify });
        } }, "Forget them") : null));
  const input = (key) => form.querySelector(`[name="${key}"]`);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    problem.replaceChildren();
    const raw = Object.fromEntries(ANCHOR_FIELDS.map(([key]) => [key, input(key).value]));
    let checked;
    try {
      checked = normalizeAnchors(raw);
      status.replaceChildren(h("span", { class: "loading" }, `Checking the chain at ${checked.rpcUrl}…`));
      await probe(checked);
    } catch (err) {
      status.replaceChildren(badge("bad", "Not saved"));
      problem.replaceChildren(h("p", { class: "error" }, h("strong", {}, "Not saved: "), err.message));
      const bad = ANCHOR_FIELDS.find(([, label]) => err.message.startsWith(label));
      (bad ? input(bad[0]) : input("rpcUrl")).focus();
      return;
    }
    saveTrustAnchors(checked);
    status.replaceChildren(badge("ok", `Saved: chain ${checked.chainId}, Notary ${checked.notary}`));
    notify("Trust anchors saved in this browser.", "ok");
  });

  const fill = h("button", { type: "button", class: "button button-quiet", id: "trust-use-suggestion",
    onclick: async () => {
      for (const [key] of ANCHOR_FIELDS) if (suggestion[key]) input(key).value = suggestion[key];
      try {
        input("chainId").value = String(await rpcChainId(new ChainReader(suggestion.rpcUrl, suggestion.notary)));
      } catch {
        // The chain id stays for the user to type: the suggested RPC did not answer.
      }
      status.replaceChildren(badge("warn", "Filled in from the exchange's suggestion: check, then save"));
      input("rpcUrl").focus();
    } }, "Fill in the exchange's suggestion");
  const offered = ANCHOR_FIELDS.filter(([key]) => suggestion[key]);
  put(main, h("section", { "aria-labelledby": "h-form" }, h("h2", { id: "h-form" }, "Your values"), status, problem,
    form),
  h("section", { "aria-labelledby": "h-suggest", id: "suggestion" }, h("h2", { id: "h-suggest" },
    "The exchange's suggestion"),
  offered.length ? [h("p", { class: "muted" }, "What the exchange server you are auditing says. Compare it with " +
      "an independent source (the deployment's published addresses, your own node) before you use it."),
  dl(offered.map(([key, label]) => [label, key === "rpcUrl" ? h("code", {}, suggestion[key])
    : hexCode(suggestion[key], 20)])), h("p", { class: "actions" }, fill)]
    : h("p", { class: "empty", role: "note" }, "The exchange offers no chain configuration.")));
}
