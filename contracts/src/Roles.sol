// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

// The member role bits, the one definition Registry, Market and ComputeJobs share (mirrored in Python
// by contracts.types.Role). Roles are bit flags so one member may hold several.
// File-level constants, imported as `import * as Roles from "./Roles.sol"`: a library would add an
// artifact with code to deploy, and constants are inlined at compile time either way.
uint8 constant PROVIDER = 1;
uint8 constant ALGORITHM_PROVIDER = 2;
uint8 constant BUYER = 4;
uint8 constant COMPUTE_NODE = 8;
uint8 constant REGULATOR = 16;
uint8 constant ALL = 31;
