// Members, read from the Registry contract itself (its MemberAdmitted events, then each member's record), with
// Suspend and Reinstate for the operator, signed in the wallet. Key rotation stays on the command line.

import { fragment, topicOf } from "../abi.js";
import { callView, contractAbi, contracts, pageChain } from "../chain.js";
import { badge, emptyState, errorState, formatTime, h, hexCode, put, table } from "../dom.js";
import { toChecksumAddress } from "../keccak.js";
import { sendContractTx } from "../tx.js";
import { txButton } from "./earnings.js";

const ROLE_NAMES = [[1, "data provider"], [2, "algorithm provider"], [4, "buyer"], [8, "compute node"], [16, "regulator"]];
const ADMIN_ROLE = `0x${"0".repeat(64)}`;
const lower = (v) => String(v ?? "").toLowerCase();

export function roleWords(mask) {
  const names = ROLE_NAMES.filter(([bit]) => Number(mask) & bit).map(([, n]) => n);
  return names.length ? names.join(", ") : "none";
}

function registryAt() {
  const registry = contracts().Registry;
  const reader = pageChain();
  if (!registry || !reader) {
    throw new Error("this page knows no chain RPC and Registry contract to read the members from");
  }
  return { registry, reader };
}

/** Every admitted member with its current record: [{address, roles, suspended, admittedAt, encryptionKey}]. */
export async function readMembers() {
  const { registry, reader } = registryAt();
  const event = fragment(await contractAbi("Registry"), "event", "MemberAdmitted");
  const logs = (await reader.call("eth_getLogs", [{ address: registry, fromBlock: "0x0", toBlock: "latest",
    topics: [topicOf(event)] }]) || []).filter((l) => !l.removed);
  const addresses = [...new Set(logs.map((l) => toChecksumAddress(`0x${l.topics[1].slice(-40)}`)))];
  return Promise.all(addresses.map(async (address) => {
    const m = (await callView(reader, registry, "Registry", "member", address))["0"];
    return { address, roles: Number(m.roles), suspended: m.suspended, admittedAt: Number(m.admittedAt),
      encryptionKey: m.encryptionKey };
  }));
}

/** Whether `address` holds the Registry's admin role (the operator's). */
export async function isOperator(address) {
  if (!address) return false;
  const { registry, reader } = registryAt();
  return (await callView(reader, registry, "Registry", "hasRole", ADMIN_ROLE, address))["0"] === true;
}

/**
 * The Suspend (or Reinstate) button for one member, sent as Registry.suspend / reinstate from the wallet.
 * Exported so a test can offer it to a non-operator: the contract, not the page, is what refuses.
 */
export function memberAction(address, suspended, onDone, notify = () => {}) {
  const fn = suspended ? "reinstate" : "suspend";
  const verb = suspended ? "Reinstate" : "Suspend";
  return txButton(verb, () => sendContractTx("Registry", fn, [address]), {
    id: `${fn}-${lower(address)}`,
    name: `${verb} ${address}`,
    danger: !suspended,
    done: async ({ txHash }) => {
      // The table is redrawn from the chain, and this button with it: the outcome goes to the page's notice.
      notify(`${suspended ? "Reinstated" : "Suspended"} ${address} in transaction ${txHash}.`, "info");
      if (onDone) await onDone();
      return suspended ? "The member may act in its roles again." : "The member can no longer act in any role.";
    },
  });
}

export async function render(main, _params, { session, notify }) {
  put(main, h("h1", {}, "Members"), h("p", { class: "lede" }, "Every member the Registry contract admitted, " +
    "read from the chain, not from the exchange's database. The operator suspends and reinstates members here; " +
    "a suspended member can no longer list, buy, approve or attest."),
  h("div", { class: "alerts-box", role: "note", id: "rotate-note" }, h("p", {}, h("strong", {}, "Key rotation is not done " +
    "in the browser. "), "A member's X25519 encryption private key never enters a web page: rotate it on the member's " +
    "own machine with ", h("code", {}, "dx account rotate-key"), ", which keeps the old keystore. A compute node's " +
    "rotation also needs its shares re-sealed to the new key: the command says what it takes.")));
  const box = h("section", { "aria-labelledby": "h-members" }, h("h2", { id: "h-members" }, "Admitted members"),
    h("p", { class: "loading" }, "Reading the Registry…"));
  put(main, box);

  async function show() {
    let members;
    let operator = false;
    try {
      [members, operator] = await Promise.all([readMembers(), session.token ? isOperator(session.address) : false]);
    } catch (err) {
      box.replaceChildren(box.firstChild, errorState(err));
      return;
    }
    const who = !session.token ? "Sign in with the operator's wallet to suspend or reinstate members."
      : operator ? "You are the operator: each row has its action."
        : "You are not the operator (the Registry's admin): you can read the list but not change it.";
    const rows = members.map((m) => h("tr", { "data-member": lower(m.address), "data-suspended": String(m.suspended) },
      h("td", {}, h("code", {}, m.address)), h("td", {}, roleWords(m.roles)),
      h("td", {}, m.suspended ? badge("bad", "Suspended") : badge("ok", "Active")),
      h("td", {}, formatTime(m.admittedAt)), h("td", {}, hexCode(m.encryptionKey, 6)),
      h("td", {}, operator ? memberAction(m.address, m.suspended, show, notify) : h("span", { class: "muted" }, "—"))));
    box.replaceChildren(box.firstChild, h("p", { id: "operator-note" }, who), members.length
      ? table(`${members.length} ${members.length === 1 ? "member" : "members"} on the Registry`, ["Address", "Roles", "Status", "Admitted", "Encryption key",
        "Action"], rows, { id: "members" })
      : emptyState("The Registry has admitted no member yet.", "The operator admits members with dx member admit."));
  }
  await show();
}
