// RFC 6962 / RFC 9162 Merkle hashing and proof verification with WebCrypto, mirroring notarizer/proofs.py.
// The regulator's page runs these itself so that it never has to trust the server's verdict.

const subtle = globalThis.crypto.subtle;

export const HASH_SIZE = 32;

export function hexToBytes(hex) {
  const clean = hex.startsWith("0x") ? hex.slice(2) : hex;
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) {
    throw new Error(`not a hex string: ${hex.slice(0, 20)}`);
  }
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest("SHA-256", bytes));
}

/** SHA-256(0x00 || data). */
export async function leafHash(data) {
  return sha256(concat(Uint8Array.of(0), data));
}

/** SHA-256(0x01 || left || right). */
export async function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

export const EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// Sizes and indices stay exact as JS numbers up to 2**53; bitwise operators would cut them to 32 bits,
// so halving and parity use arithmetic.
const odd = (n) => n % 2 === 1;
const half = (n) => Math.floor(n / 2);

function validCounts(...ns) {
  return ns.every((n) => Number.isSafeInteger(n) && n >= 0);
}

/** RFC 9162 2.1.3.2: does `proof` place leaf hash `leaf` at `index` in the tree (size, root)? */
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!validCounts(index, size) || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.length !== HASH_SIZE) return false;
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(r, root);
}

/** RFC 9162 2.1.4.2: does `proof` show tree (oldSize, oldRoot) is a prefix of (newSize, newRoot)? */
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (!validCounts(oldSize, newSize) || oldSize > newSize) return false;
  if (oldSize === newSize) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (oldSize === 0) {
    // The empty tree is a prefix of every tree; RFC 9162 defines no proof for it.
    return proof.length === 0 && bytesToHex(oldRoot) === EMPTY_ROOT_HEX;
  }
  const path = [...proof];
  if (path.some((p) => p.length !== HASH_SIZE)) return false;
  if (Number.isInteger(Math.log2(oldSize))) path.unshift(oldRoot);
  if (path.length === 0) return false;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}

/** RFC 6962 root of a list of leaf hashes (the page uses it to rebuild small trees from raw entries). */
export async function rootOf(leaves) {
  if (leaves.length === 0) return hexToBytes(EMPTY_ROOT_HEX);
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(await rootOf(leaves.slice(0, k)), await rootOf(leaves.slice(k)));
}
