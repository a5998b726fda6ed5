// Sign-in with Ethereum (EIP-4361) and EIP-712 signing through the browser wallet (EIP-1193).
// Keys stay in the wallet: the page only ever sees addresses and signatures.

import { api, session } from "./api.js";
import { toChecksumAddress } from "./keccak.js";

export class WalletError extends Error {}

function provider() {
  const eth = window.ethereum;
  if (!eth || typeof eth.request !== "function") {
    throw new WalletError("No Ethereum wallet found: install a browser wallet (EIP-1193) to sign in.");
  }
  return eth;
}

function utf8Hex(text) {
  return "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function request(method, params) {
  try {
    return await provider().request({ method, params });
  } catch (err) {
    if (err instanceof WalletError) throw err;
    const reason = err && err.code === 4001 ? "you declined the request in your wallet" : err?.message || err;
    throw new WalletError(`Wallet ${method} failed: ${reason}`);
  }
}

export async function currentAccount() {
  const accounts = await request("eth_requestAccounts", []);
  if (!accounts || !accounts.length) throw new WalletError("The wallet shared no account.");
  return accounts[0];
}

const STATEMENT = "Sign in to the data exchange console. This signature costs nothing and moves no funds.";
const MESSAGE_LIFETIME_MS = 60 * 60 * 1000;

/** The EIP-4361 message for the API's challenge ({nonce, domain, uri, chain_id}). */
export function siweMessage(address, challenge, now = new Date()) {
  const expires = new Date(now.getTime() + MESSAGE_LIFETIME_MS);
  return [
    `${challenge.domain} wants you to sign in with your Ethereum account:`,
    toChecksumAddress(address),
    "",
    STATEMENT,
    "",
    `URI: ${challenge.uri}`,
    "Version: 1",
    `Chain ID: ${challenge.chain_id}`,
    `Nonce: ${challenge.nonce}`,
    `Issued At: ${now.toISOString()}`,
    `Expiration Time: ${expires.toISOString()}`,
  ].join("\n");
}

/** The whole SIWE round trip: a nonce from the API, personal_sign in the wallet, a bearer token back. */
export async function signIn() {
  const address = await currentAccount();
  const challenge = await api("/auth/nonce", { auth: false });
  const message = typeof challenge.message === "string" ? challenge.message : siweMessage(address, challenge);
  const signature = await request("personal_sign", [utf8Hex(message), address]);
  const login = await api("/auth/login", { method: "POST", body: { message, signature }, auth: false });
  const token = login.access_token || login.token;
  if (!token) throw new WalletError("The API accepted the signature but returned no token.");
  session.set(token, login.address || toChecksumAddress(address), login.roles || []);
  document.dispatchEvent(new CustomEvent("dx:signed-in", { detail: login }));
  return login;
}

export function signOut() {
  session.clear();
  document.dispatchEvent(new CustomEvent("dx:signed-out"));
}

/** The chain id the wallet signs for. */
export async function walletChainId() {
  return Number(BigInt(await request("eth_chainId", [])));
}

/** eth_signTypedData_v4 of an EIP-712 payload ({domain, types, primaryType, message}). */
export async function signTypedData(typedData) {
  const address = await currentAccount();
  if (session.address && address.toLowerCase() !== session.address.toLowerCase()) {
    throw new WalletError(`The wallet's account ${address} is not the signed-in ${session.address}.`);
  }
  const payload = JSON.stringify(typedData, (_k, v) => (typeof v === "bigint" ? v.toString() : v));
  return { address, signature: await request("eth_signTypedData_v4", [address, payload]) };
}

/** eth_sendTransaction of `tx` ({to, data, value: 0x-hex}) from the signed-in account: the wallet fills nonce,
 * gas and fees, signs with its key and broadcasts; the page gets the transaction hash. */
export async function sendTransaction(tx) {
  const from = await currentAccount();
  if (session.address && from.toLowerCase() !== session.address.toLowerCase()) {
    throw new WalletError(`The wallet's account ${from} is not the signed-in ${session.address}.`);
  }
  return { from, txHash: await request("eth_sendTransaction", [{ ...tx, from }]) };
}

/** Sign out when the wallet switches to another account, so the page never acts for the wrong one. */
export function watchAccounts(onChange) {
  const eth = window.ethereum;
  if (!eth || typeof eth.on !== "function") return;
  eth.on("accountsChanged", (accounts) => {
    const now = (accounts && accounts[0]) || "";
    if (session.token && now.toLowerCase() !== (session.address || "").toLowerCase()) {
      signOut();
      onChange(now);
    }
  });
}
