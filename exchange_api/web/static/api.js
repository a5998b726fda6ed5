// The console's client of the exchange JSON API: bearer token handling and readable errors.

import { parseExact } from "./canonical.js";

const TOKEN_KEY = "dx.token";
const ADDRESS_KEY = "dx.address";
const ROLES_KEY = "dx.roles";

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function apiBase() {
  return document.body.dataset.apiBase || "/v1";
}

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  get address() {
    return sessionStorage.getItem(ADDRESS_KEY);
  },
  get roles() {
    try {
      return JSON.parse(sessionStorage.getItem(ROLES_KEY) || "[]");
    } catch {
      return [];
    }
  },
  set(token, address, roles = []) {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(ADDRESS_KEY, address);
    sessionStorage.setItem(ROLES_KEY, JSON.stringify(roles));
  },
  clear() {
    for (const k of [TOKEN_KEY, ADDRESS_KEY, ROLES_KEY]) sessionStorage.removeItem(k);
  },
};

function describe(status, body) {
  if (body && typeof body === "object") {
    const d = body.detail ?? body.error ?? body.message;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((x) => `${(x.loc || []).join(".")}: ${x.msg}`).join("; ");
    if (d && typeof d === "object") return d.message || JSON.stringify(d);
  }
  return `HTTP ${status}`;
}

/** Call the API. `exact` parses the body with parseExact, keeping numbers as the server spelled them. */
export async function api(path, { method = "GET", body, query, auth = true, exact = false } = {}) {
  const url = new URL(apiBase() + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => url.searchParams.append(k, x));
    else url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && session.token) headers.Authorization = `Bearer ${session.token}`;
  let res;
  try {
    res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `the exchange API is unreachable (${err.message})`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = exact && res.ok ? parseExact(text) : JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (res.status === 401 && auth && session.token) {
    session.clear();
    document.dispatchEvent(new CustomEvent("dx:signed-out"));
  }
  if (!res.ok) throw new ApiError(res.status, `${method} ${path}: ${describe(res.status, data)}`, data);
  return data;
}

/** The raw bytes of an API resource (a blob): the caller checks them against the hash it expects. */
export async function apiBytes(path) {
  const headers = {};
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  let res;
  try {
    res = await fetch(new URL(apiBase() + path, location.origin), { headers });
  } catch (err) {
    throw new ApiError(0, `the exchange API is unreachable (${err.message})`);
  }
  if (!res.ok) {
    const text = await res.text();
    let data = text;
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: the text itself describes the error
    }
    throw new ApiError(res.status, `GET ${path}: ${describe(res.status, data)}`, data);
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** Lists come back either bare or wrapped ({items: [...]}, {datasets: [...]}, ...): take the array. */
export function items(data, ...keys) {
  if (Array.isArray(data)) return data;
  if (!data || typeof data !== "object") return [];
  for (const k of [...keys, "items", "results", "data", "entries"]) {
    if (Array.isArray(data[k])) return data[k];
  }
  return [];
}
