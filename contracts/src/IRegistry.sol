// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What Market and ComputeJobs ask of the Registry.
interface IRegistry {
    function isActive(address account, uint8 role) external view returns (bool);
    function clusterTerms() external view returns (uint32 version, uint256 nodeFee);
    function nodeIndex(address node, uint32 version) external view returns (uint8);
    function clusterNodes(uint32 version) external view returns (address[3] memory);
    function encryptionKeyOf(address account) external view returns (bytes32);
}
