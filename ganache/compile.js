// Compile contracts/src/*.sol with the pinned solcjs (standard JSON, optimizer on, shanghai) and write
// one artifact per contract to contracts/artifacts/<Name>.json. Usage: node compile.js [--check]
// With --check nothing is written: exit 1 and list the artifacts that differ from a fresh compile.
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");
const solc = require("solc");

const ROOT = path.resolve(__dirname, "..");
const SRC = path.join(ROOT, "contracts", "src");
// DX_ARTIFACTS_OUT writes elsewhere (the staleness test compares a fresh build with the committed one).
const OUT = process.env.DX_ARTIFACTS_OUT ? path.resolve(process.env.DX_ARTIFACTS_OUT) : path.join(ROOT, "contracts", "artifacts");
const NODE_MODULES = path.join(__dirname, "node_modules");
const EVM_VERSION = "shanghai";
const OPTIMIZER = { enabled: true, runs: 200 };
const VIA_IR = true;

const sources = {};
for (const file of fs.readdirSync(SRC).filter((f) => f.endsWith(".sol")).sort()) {
  sources[`src/${file}`] = { content: fs.readFileSync(path.join(SRC, file), "utf8") };
}
const imported = {};
function findImports(importPath) {
  const candidate = path.join(NODE_MODULES, importPath);
  if (!candidate.startsWith(NODE_MODULES) || !fs.existsSync(candidate)) {
    return { error: `import not found: ${importPath}` };
  }
  const content = fs.readFileSync(candidate, "utf8");
  imported[importPath] = content;
  return { contents: content };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: OPTIMIZER,
    viaIR: VIA_IR,
    evmVersion: EVM_VERSION,
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
// Only our own sources' warnings are worth printing; OpenZeppelin's are not ours to fix.
for (const e of output.errors || []) {
  const file = (e.sourceLocation && e.sourceLocation.file) || "";
  if (e.severity === "error" || file.startsWith("src/")) console.error(e.formattedMessage);
}
if (errors.length) process.exit(2);

// The source hash covers every source the compiler read, our own and OpenZeppelin's, in name order.
const hash = crypto.createHash("sha256");
const all = Object.assign({}, ...Object.entries(sources).map(([k, v]) => ({ [k]: v.content })), imported);
for (const name of Object.keys(all).sort()) hash.update(name + "\0" + all[name] + "\0");
const sourceHash = "0x" + hash.digest("hex");

const check = process.argv.includes("--check");
const stale = [];
fs.mkdirSync(OUT, { recursive: true });
for (const [file, contracts] of Object.entries(output.contracts).filter(([f]) => f.startsWith("src/"))) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!c.evm.bytecode.object) continue; // interfaces have no code to deploy
    const artifact = {
      contractName: name,
      sourceName: file,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      sourceHash,
      compiler: { name: "solcjs", version: solc.version() },
      evmVersion: EVM_VERSION,
      optimizer: OPTIMIZER,
      viaIR: VIA_IR,
    };
    const text = JSON.stringify(artifact, null, 2) + "\n";
    const target = path.join(OUT, `${name}.json`);
    if (check) {
      if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) stale.push(name);
    } else {
      fs.writeFileSync(target, text);
      console.log(`wrote ${path.relative(process.cwd(), target)}`);
    }
  }
}
if (check) {
  if (stale.length) {
    console.error(`stale artifacts (run scripts/compile_contracts): ${stale.join(", ")}`);
    process.exit(1);
  }
  console.log("artifacts are up to date");
}
