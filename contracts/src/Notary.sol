// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title Notary
/// @notice Anchors checkpoints (tree size, root) of the exchange's append-only transparency log.
/// @dev Tree sizes strictly grow. Storage is laid out for a cheap `anchor`: one fresh slot per root,
///      the (size, timestamp, block) records packed two per slot, and one head slot with the count.
contract Notary is AccessControl {
    /// @notice Role of the accounts allowed to anchor checkpoints.
    bytes32 public constant NOTARIZER_ROLE = keccak256("NOTARIZER_ROLE");

    /// @notice A checkpoint as returned by the views.
    struct Checkpoint {
        uint64 treeSize;
        bytes32 root;
        uint64 timestamp;
        uint64 blockNumber;
    }

    /// @dev Number of checkpoints and the latest tree size, in one slot.
    struct Head {
        uint64 count;
        uint64 latestTreeSize;
    }

    Head private _head;
    mapping(uint256 index => bytes32 root) private _roots;
    /// @dev Two 128-bit records per slot: treeSize (64) | timestamp (32) | blockNumber (32).
    mapping(uint256 pairIndex => uint256 records) private _records;

    /// @notice A checkpoint was anchored.
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
    }

    /// @notice Anchor a checkpoint of the transparency log.
    /// @param treeSize Number of leaves in the log; must exceed the previous checkpoint's.
    /// @param root Merkle tree head (RFC 9162) of the first `treeSize` leaves.
    /// @return index Position of the new checkpoint, counting from 0.
    function anchor(uint64 treeSize, bytes32 root) external onlyRole(NOTARIZER_ROLE) returns (uint256 index) {
        Head memory head = _head;
        if (treeSize <= head.latestTreeSize) revert TreeSizeNotGrowing(head.latestTreeSize, treeSize);
        index = head.count;
        _head = Head({count: head.count + 1, latestTreeSize: treeSize});
        _roots[index] = root;
        uint256 record = (uint256(treeSize) << 64) | (uint256(uint32(block.timestamp)) << 32)
            | uint256(uint32(block.number));
        uint256 shift = (index & 1) * 128;
        _records[index >> 1] |= record << shift;
        emit CheckpointAnchored(index, treeSize, root, uint64(block.timestamp));
    }

    /// @notice Number of anchored checkpoints.
    function checkpointCount() external view returns (uint256) {
        return _head.count;
    }

    /// @notice The checkpoint at `index` (from 0).
    function checkpoint(uint256 index) public view returns (Checkpoint memory) {
        uint256 count = _head.count;
        if (index >= count) revert CheckpointNotFound(index, count);
        uint256 record = (_records[index >> 1] >> ((index & 1) * 128)) & type(uint128).max;
        return Checkpoint({
            treeSize: uint64(record >> 64),
            root: _roots[index],
            timestamp: uint64(uint32(record >> 32)),
            blockNumber: uint64(uint32(record))
        });
    }

    /// @notice The most recent checkpoint and its index.
    function latest() external view returns (uint256 index, Checkpoint memory cp) {
        uint256 count = _head.count;
        if (count == 0) revert NoCheckpoints();
        index = count - 1;
        cp = checkpoint(index);
    }
}
