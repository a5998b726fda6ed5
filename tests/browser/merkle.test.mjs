// node --test: the console's WebCrypto Merkle verifier against vectors from notarizer/proofs.py.
// The vectors file is written by tests/browser/test_merkle_js.py and named in MERKLE_VECTORS.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  hexToBytes as h, bytesToHex, leafHash, nodeHash, verifyConsistency, verifyInclusion,
} from "../../exchange_api/web/static/merkle.js";

const vectors = JSON.parse(readFileSync(process.env.MERKLE_VECTORS, "utf8"));

test("leaf and node hashes match the reference", async () => {
  for (const c of vectors.leaf_hash) assert.equal(bytesToHex(await leafHash(h(c.data))), c.leaf);
  for (const c of vectors.node_hash) assert.equal(bytesToHex(await nodeHash(h(c.left), h(c.right))), c.node);
});

test("inclusion verdicts match the reference on honest and tampered proofs", async () => {
  assert.ok(vectors.inclusion.some((c) => c.expected) && vectors.inclusion.some((c) => !c.expected));
  for (const c of vectors.inclusion) {
    const got = await verifyInclusion(c.index, c.size, h(c.leaf), c.proof.map(h), h(c.root));
    assert.equal(got, c.expected, `inclusion index=${c.index} size=${c.size}`);
  }
});

test("consistency verdicts match the reference on honest and tampered proofs", async () => {
  assert.ok(vectors.consistency.some((c) => c.expected) && vectors.consistency.some((c) => !c.expected));
  for (const c of vectors.consistency) {
    const got = await verifyConsistency(c.old_size, c.new_size, h(c.old_root), h(c.new_root), c.proof.map(h));
    assert.equal(got, c.expected, `consistency ${c.old_size}->${c.new_size}`);
  }
});
