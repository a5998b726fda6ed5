// Sign-in with Ethereum (EIP-4361) and EIP-712 signing through the browser wallet (EIP-1193).
// Keys stay in the wallet: the page only ever sees addresses and signatures.

import { api, session } from "./api.js";

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

/** The whole SIWE round trip: nonce + message from the API, personal_sign in the wallet, token back. */
export async function signIn() {
  const address = await currentAccount();
  const challenge = await api("/auth/nonce", { query: { address }, auth: false });
  const message = typeof challenge === "string" ? challenge : challenge.message;
  if (!message) throw new WalletError("The API's nonce response carried no EIP-4361 message to sign.");
  const signature = await request("personal_sign", [utf8Hex(message), address]);
  const login = await api("/auth/login", { method: "POST", body: { message, signature }, auth: false });
  const token = login.token || login.access_token;
  if (!token) throw new WalletError("The API accepted the signature but returned no token.");
  session.set(token, login.address || address);
  document.dispatchEvent(new CustomEvent("dx:signed-in", { detail: login }));
  return login;
}

export function signOut() {
  session.clear();
  document.dispatchEvent(new CustomEvent("dx:signed-out"));
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
