// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice What ComputeJobs asks of the Market.
interface IMarket {
    function quote(uint256[] calldata datasetIds, uint256 algorithmId, address buyer)
        external
        view
        returns (address[] memory owners, uint256[] memory prices, uint256 preApproved);

    function consume(uint256[] calldata datasetIds, uint256 algorithmId) external;
}
