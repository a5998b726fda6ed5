// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title Notary
/// @notice Anchors checkpoints (tree size, root) of the exchange's append-only transparency log.
/// @dev Tree sizes strictly grow. Storage is laid out so that every `anchor` writes exactly one fresh
///      slot: the root. The head slot holds the count and the latest checkpoint's size, timestamp and
///      block; older checkpoints' sizes and timestamps live only in their `CheckpointAnchored` event
///      (logs are part of consensus, so reading them is as trustless as reading storage). A second
///      fresh slot per anchor (the previous layout) costs 20k gas and pushed anchors past 60k.
contract Notary is AccessControl {
    /// @notice Role of the accounts allowed to anchor checkpoints.
    bytes32 public constant NOTARIZER_ROLE = keccak256("NOTARIZER_ROLE");

    /// @notice A checkpoint as returned by `latest`.
    struct Checkpoint {
        uint64 treeSize;
        bytes32 root;
        uint64 timestamp;
        uint64 blockNumber;
    }

    /// @dev Number of checkpoints and the latest checkpoint's record, in one slot.
    struct Head {
        uint64 count;
        uint64 latestTreeSize;
        uint64 latestTimestamp;
        uint64 latestBlock;
    }

    Head private _head;
    mapping(uint256 index => bytes32 root) private _roots;
    /// @notice Block the Notary was deployed in: readers scan `CheckpointAnchored` logs from here.
    uint256 public deploymentBlock;

    /// @notice Checkpoint `index` was anchored: the only place its tree size and timestamp are kept once
    ///         a later checkpoint exists (the root stays in storage, see `rootAt`).
    event CheckpointAnchored(uint256 indexed index, uint64 treeSize, bytes32 root, uint64 timestamp);

    /// @notice The new tree size does not exceed the previous one.
    error TreeSizeNotGrowing(uint64 previousSize, uint64 newSize);
    /// @notice No checkpoint has this index.
    error CheckpointNotFound(uint256 index, uint256 count);
    /// @notice No checkpoint has been anchored yet.
    error NoCheckpoints();

    /// @param admin Account that may grant and revoke the notarizer role.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        deploymentBlock = block.number;
    }

    /// @notice Anchor a checkpoint of the transparency log.
    /// @param treeSize Number of leaves in the log; must exceed the previous checkpoint's.
    /// @param root Merkle tree head (RFC 9162) of the first `treeSize` leaves.
    /// @return index Position of the new checkpoint, counting from 0.
    function anchor(uint64 treeSize, bytes32 root) external onlyRole(NOTARIZER_ROLE) returns (uint256 index) {
        Head memory head = _head;
        if (treeSize <= head.latestTreeSize) revert TreeSizeNotGrowing(head.latestTreeSize, treeSize);
        index = head.count;
        _head = Head({
            count: head.count + 1,
            latestTreeSize: treeSize,
            latestTimestamp: uint64(block.timestamp),
            latestBlock: uint64(block.number)
        });
        _roots[index] = root;
        emit CheckpointAnchored(index, treeSize, root, uint64(block.timestamp));
    }

    /// @notice Number of anchored checkpoints.
    function checkpointCount() external view returns (uint256) {
        return _head.count;
    }

    /// @notice The root of checkpoint `index` (from 0); its tree size is in the checkpoint's
    ///         `CheckpointAnchored` event (or `latest` for the newest checkpoint).
    function rootAt(uint256 index) external view returns (bytes32) {
        uint256 count = _head.count;
        if (index >= count) revert CheckpointNotFound(index, count);
        return _roots[index];
    }

    /// @notice The most recent checkpoint and its index, entirely from storage.
    function latest() external view returns (uint256 index, Checkpoint memory cp) {
        Head memory head = _head;
        if (head.count == 0) revert NoCheckpoints();
        index = head.count - 1;
        cp = Checkpoint({
            treeSize: head.latestTreeSize,
            root: _roots[index],
            timestamp: head.latestTimestamp,
            blockNumber: head.latestBlock
        });
    }
}
