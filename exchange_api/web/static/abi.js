// A small Solidity ABI decoder driven by the contracts' own ABI (served with the console), so the pages read
// on-chain structs by field name and keep working when a struct gains a field.

import { keccak256 } from "./keccak.js";
import { bytesToHex, concat, hexToBytes } from "./merkle.js";

export class AbiError extends Error {}

const utf8 = (s) => new TextEncoder().encode(s);

/** The canonical type of an ABI parameter, tuples spelled out: "(uint256[],address)[]". */
export function canonicalType(p) {
  if (p.type.startsWith("tuple")) return `(${p.components.map(canonicalType).join(",")})${p.type.slice(5)}`;
  return p.type;
}

export function signatureOf(fragment) {
  return `${fragment.name}(${fragment.inputs.map(canonicalType).join(",")})`;
}

/** topic0 of an event fragment. */
export const topicOf = (fragment) => `0x${bytesToHex(keccak256(utf8(signatureOf(fragment))))}`;

/** The 4-byte selector of a function fragment, as hex without 0x. */
export const selectorOf = (fragment) => bytesToHex(keccak256(utf8(signatureOf(fragment))).slice(0, 4));

function arrayOf(type) {
  const m = type.match(/^(.*)\[(\d*)\]$/);
  return m ? { inner: m[1], length: m[2] === "" ? null : Number(m[2]) } : null;
}

function isDynamic(p) {
  const arr = arrayOf(p.type);
  if (arr) return arr.length === null || isDynamic({ ...p, type: arr.inner });
  if (p.type === "string" || p.type === "bytes") return true;
  if (p.type === "tuple") return p.components.some(isDynamic);
  return false;
}

function headSize(p) {
  if (isDynamic(p)) return 32;
  const arr = arrayOf(p.type);
  if (arr) return arr.length * headSize({ ...p, type: arr.inner });
  if (p.type === "tuple") return p.components.reduce((n, c) => n + headSize(c), 0);
  return 32;
}

function wordAt(data, offset) {
  if (offset < 0 || offset + 32 > data.length) {
    throw new AbiError(`ABI data ends at byte ${data.length}, a word was expected at ${offset}`);
  }
  return data.subarray(offset, offset + 32);
}

const uint = (w) => BigInt(`0x${bytesToHex(w)}`);

function decodeValue(p, data, offset) {
  const arr = arrayOf(p.type);
  if (arr) {
    let length = arr.length;
    let start = offset;
    if (length === null) {
      length = Number(uint(wordAt(data, offset)));
      start = offset + 32;
      if (length > data.length) throw new AbiError(`an array of ${length} items cannot fit in ${data.length} bytes`);
    }
    return decodeSequence(Array.from({ length }, () => ({ ...p, type: arr.inner })), data, start);
  }
  if (p.type === "tuple") {
    const values = decodeSequence(p.components, data, offset);
    return Object.fromEntries(p.components.map((c, k) => [c.name || String(k), values[k]]));
  }
  if (p.type === "string" || p.type === "bytes") {
    const n = Number(uint(wordAt(data, offset)));
    if (offset + 32 + n > data.length) throw new AbiError(`a ${p.type} of ${n} bytes runs past the data`);
    const raw = data.subarray(offset + 32, offset + 32 + n);
    return p.type === "string" ? new TextDecoder("utf-8", { fatal: true }).decode(raw) : `0x${bytesToHex(raw)}`;
  }
  const w = wordAt(data, offset);
  if (p.type === "address") return `0x${bytesToHex(w.subarray(12))}`;
  if (p.type === "bool") return uint(w) !== 0n;
  const fixed = p.type.match(/^bytes(\d+)$/);
  if (fixed) return `0x${bytesToHex(w.subarray(0, Number(fixed[1])))}`;
  if (/^uint\d*$/.test(p.type)) return uint(w);
  const signed = p.type.match(/^int(\d*)$/);
  if (signed) return BigInt.asIntN(256, uint(w));
  throw new AbiError(`the console cannot decode ABI type ${p.type}`);
}

function decodeSequence(params, data, base) {
  let head = base;
  const out = [];
  for (const p of params) {
    if (isDynamic(p)) out.push(decodeValue(p, data, base + Number(uint(wordAt(data, head)))));
    else out.push(decodeValue(p, data, head));
    head += headSize(p);
  }
  return out;
}

/** Decode ABI-encoded `hex` as `params`; returns an object keyed by parameter name. */
export function decode(params, hex) {
  const data = hexToBytes(String(hex || "").replace(/^0x/, ""));
  const values = decodeSequence(params, data, 0);
  return Object.fromEntries(params.map((p, k) => [p.name || String(k), values[k]]));
}

/** The fragment `name` of `kind` (event, function) in `abi`, or an AbiError naming what is missing. */
export function fragment(abi, kind, name) {
  const found = abi.find((x) => x.type === kind && x.name === name);
  if (!found) throw new AbiError(`the contract's ABI has no ${kind} ${name}`);
  return found;
}

// ---------------------------------------------------------------- encoding (the decoder's inverse)

const WORD = 32;

function uintWord(n, bits = 256) {
  const v = BigInt(n);
  if (v < 0n || v >= 1n << BigInt(bits)) throw new AbiError(`${n} does not fit a uint${bits}`);
  return hexToBytes(v.toString(16).padStart(64, "0"));
}

function hexArg(p, v) {
  const clean = String(v ?? "").replace(/^0x/, "");
  if (clean.length % 2 || /[^0-9a-fA-F]/.test(clean)) throw new AbiError(`${p.name || p.type}: ${v} is not hex`);
  return hexToBytes(clean);
}

function padRight(bytes) {
  const out = new Uint8Array(Math.ceil(bytes.length / WORD) * WORD);
  out.set(bytes);
  return out;
}

function encodeValue(p, v) {
  const arr = arrayOf(p.type);
  if (arr) {
    const list = Array.from(v ?? []);
    if (arr.length !== null && list.length !== arr.length) {
      throw new AbiError(`${p.name || p.type}: ${list.length} items given, ${p.type} holds ${arr.length}`);
    }
    const body = encodeSequence(list.map(() => ({ ...p, type: arr.inner })), list);
    return arr.length === null ? concat(uintWord(list.length), body) : body;
  }
  if (p.type === "tuple") {
    const values = Array.isArray(v) ? v : p.components.map((c, k) => (v && c.name in v ? v[c.name] : v?.[k]));
    return encodeSequence(p.components, values);
  }
  if (p.type === "string" || p.type === "bytes") {
    const raw = p.type === "string" ? utf8(String(v)) : hexArg(p, v);
    return concat(uintWord(raw.length), padRight(raw));
  }
  if (p.type === "address") {
    const raw = hexArg(p, v);
    if (raw.length !== 20) throw new AbiError(`${p.name || "address"}: ${v} is not a 20-byte address`);
    return concat(new Uint8Array(12), raw);
  }
  if (p.type === "bool") return uintWord(v ? 1 : 0);
  const fixed = p.type.match(/^bytes(\d+)$/);
  if (fixed) {
    const raw = hexArg(p, v);
    if (raw.length !== Number(fixed[1])) throw new AbiError(`${p.name || p.type}: ${raw.length} bytes given, ${p.type} needs ${fixed[1]}`);
    return padRight(raw);
  }
  const unsigned = p.type.match(/^uint(\d*)$/);
  if (unsigned) return uintWord(v, Number(unsigned[1] || 256));
  const signed = p.type.match(/^int(\d*)$/);
  if (signed) {
    const bits = BigInt(signed[1] || 256);
    const n = BigInt(v);
    if (n < -(1n << (bits - 1n)) || n >= 1n << (bits - 1n)) throw new AbiError(`${v} does not fit an ${p.type}`);
    return uintWord(BigInt.asUintN(256, n));
  }
  throw new AbiError(`the console cannot encode ABI type ${p.type}`);
}

function encodeSequence(params, values) {
  if (values.length !== params.length) throw new AbiError(`${values.length} values given for ${params.length} parameters`);
  const heads = [];
  const tails = [];
  let tailAt = params.reduce((n, p) => n + headSize(p), 0);
  params.forEach((p, k) => {
    const enc = encodeValue(p, values[k]);
    if (isDynamic(p)) {
      heads.push(uintWord(tailAt));
      tails.push(enc);
      tailAt += enc.length;
    } else heads.push(enc);
  });
  return concat(...heads, ...tails);
}

/** ABI-encode `values` (in order; a tuple as an object keyed by field name or an array) as `params`; hex, no 0x. */
export function encode(params, values) {
  return bytesToHex(encodeSequence(params, values));
}

/** The calldata of function fragment `fn` called with `args`, as 0x-hex. */
export function encodeCall(fn, args) {
  return `0x${selectorOf(fn)}${encode(fn.inputs, args)}`;
}
