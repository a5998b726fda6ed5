// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What ComputeJobs asks of the Market.
interface IMarket {
    function quote(uint256[] calldata datasetIds, uint256 algorithmId, address buyer)
        external
        view
        returns (address[] memory owners, uint256[] memory prices, uint256 preApproved, bytes32[] memory policyHashes);

    function consume(uint256[] calldata datasetIds, uint256 algorithmId, bytes32[] calldata policyHashes) external;

    function release(uint256[] calldata datasetIds, uint256 algorithmId) external;

    function reserveEpsilon(uint256 jobId, uint256[] calldata datasetIds) external;

    function releaseEpsilon(uint256 jobId, uint256[] calldata datasetIds) external;
}
