// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import * as Roles from "./Roles.sol";

/// @title Registry
/// @notice Members of the exchange (roles, X25519 encryption keys, metadata) and the compute cluster.
/// @dev The operator holds DEFAULT_ADMIN_ROLE. Roles are bit flags so one member may hold several.
contract Registry is AccessControl {
    // Public getters for the role bits (part of the ABI); the values come from Roles.sol.
    uint8 public constant PROVIDER = Roles.PROVIDER;
    uint8 public constant ALGORITHM_PROVIDER = Roles.ALGORITHM_PROVIDER;
    uint8 public constant BUYER = Roles.BUYER;
    uint8 public constant COMPUTE_NODE = Roles.COMPUTE_NODE;
    uint8 public constant REGULATOR = Roles.REGULATOR;

    /// @notice A member as stored: one packed slot, the key, and the metadata CID.
    struct Member {
        uint8 roles;
        bool suspended;
        uint40 admittedAt;
        bytes32 encryptionKey;
        string metadataCid;
    }

    /// @notice The compute cluster: three nodes running the MPC protocol together.
    struct Cluster {
        address[3] nodes;
        string endpointsCid;
        bytes32 spuConfigHash;
        uint256 nodeFee;
        uint32 version;
    }

    mapping(address account => Member) private _members;
    /// @notice Version of the current cluster (0 before the first registration).
    uint32 public clusterVersion;
    /// @dev The current cluster's fee, beside its version so a job request reads one slot.
    uint96 private _currentNodeFee;
    mapping(uint32 version => Cluster) private _clusters;
    /// @dev Node address -> (cluster version << 16 | disabled << 8 | index + 1), zero when not a node.
    ///      `disabled` mirrors "suspended or lacks COMPUTE_NODE" so an attestation check is one read.
    mapping(address node => uint256 packed) private _nodeSlots;
    /// @dev Index + 1 of each node in every cluster version, for jobs requested under an older one.
    mapping(uint32 version => mapping(address node => uint256 indexPlusOne)) private _indexByVersion;

    event MemberAdmitted(address indexed member, uint8 roles, bytes32 encryptionKey, string metadataCid);
    event MemberKeyRotated(address indexed member, bytes32 oldKey, bytes32 newKey);
    event MemberMetadataUpdated(address indexed member, string metadataCid);
    event MemberRolesChanged(address indexed member, uint8 oldRoles, uint8 newRoles);
    event MemberSuspended(address indexed member);
    event MemberReinstated(address indexed member);
    event ClusterRegistered(
        uint32 indexed version, address[3] nodes, string endpointsCid, bytes32 spuConfigHash, uint256 nodeFee
    );

    error AlreadyMember(address account);
    error NotMember(address account);
    error InvalidRoles(uint8 roles);
    error InvalidEncryptionKey(address account);
    error AlreadySuspended(address account);
    error NotSuspended(address account);
    error NotComputeNode(address account);
    error DuplicateNode(address node);
    error NoCluster();
    error FeeTooLarge(uint256 nodeFee, uint256 maxFee);

    /// @param operator The exchange operator: admits members and registers the cluster.
    constructor(address operator) {
        _grantRole(DEFAULT_ADMIN_ROLE, operator);
    }

    // ---------------------------------------------------------------- members

    /// @notice Admit `account` with role flags, its X25519 public key and a metadata CID.
    function admit(address account, uint8 roles, bytes32 encryptionKey, string calldata metadataCid)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (_members[account].roles != 0) revert AlreadyMember(account);
        _checkRoles(roles);
        if (encryptionKey == bytes32(0)) revert InvalidEncryptionKey(account);
        _members[account] = Member({
            roles: roles,
            suspended: false,
            admittedAt: uint40(block.timestamp),
            encryptionKey: encryptionKey,
            metadataCid: metadataCid
        });
        emit MemberAdmitted(account, roles, encryptionKey, metadataCid);
    }

    /// @notice The caller replaces its own X25519 encryption key.
    function rotateKey(bytes32 newKey) external {
        Member storage m = _existing(msg.sender);
        if (newKey == bytes32(0)) revert InvalidEncryptionKey(msg.sender);
        bytes32 old = m.encryptionKey;
        m.encryptionKey = newKey;
        emit MemberKeyRotated(msg.sender, old, newKey);
    }

    /// @notice The caller replaces its own metadata CID.
    function updateMetadata(string calldata metadataCid) external {
        _existing(msg.sender).metadataCid = metadataCid;
        emit MemberMetadataUpdated(msg.sender, metadataCid);
    }

    /// @notice The operator replaces a member's role flags.
    function setRoles(address account, uint8 roles) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Member storage m = _existing(account);
        _checkRoles(roles);
        uint8 old = m.roles;
        m.roles = roles;
        _syncNodeSlot(account, m);
        emit MemberRolesChanged(account, old, roles);
    }

    /// @notice The operator suspends a member: it can no longer act in any role.
    function suspend(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Member storage m = _existing(account);
        if (m.suspended) revert AlreadySuspended(account);
        m.suspended = true;
        _syncNodeSlot(account, m);
        emit MemberSuspended(account);
    }

    /// @notice The operator lifts a suspension.
    function reinstate(address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Member storage m = _existing(account);
        if (!m.suspended) revert NotSuspended(account);
        m.suspended = false;
        _syncNodeSlot(account, m);
        emit MemberReinstated(account);
    }

    /// @notice True when `account` is a member, not suspended, and holds every flag in `role`.
    function isActive(address account, uint8 role) public view returns (bool) {
        Member storage m = _members[account];
        return m.roles & role == role && m.roles != 0 && !m.suspended;
    }

    /// @notice The member record of `account` (reverts for non-members).
    function member(address account) external view returns (Member memory) {
        Member storage m = _members[account];
        if (m.roles == 0) revert NotMember(account);
        return m;
    }

    /// @notice The X25519 key results for `account` are sealed to (zero when not a member).
    function encryptionKeyOf(address account) external view returns (bytes32) {
        return _members[account].encryptionKey;
    }

    // ---------------------------------------------------------------- cluster

    /// @notice Register (or replace) the compute cluster. Each node must be a COMPUTE_NODE member.
    /// @param nodeFee Wei paid to each node per completed job.
    function registerCluster(
        address[3] calldata nodes,
        string calldata endpointsCid,
        bytes32 spuConfigHash,
        uint256 nodeFee
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (nodeFee > type(uint96).max) revert FeeTooLarge(nodeFee, type(uint96).max);
        for (uint256 i = 0; i < 3; ++i) {
            if (!isActive(nodes[i], COMPUTE_NODE)) revert NotComputeNode(nodes[i]);
            for (uint256 j = 0; j < i; ++j) {
                if (nodes[i] == nodes[j]) revert DuplicateNode(nodes[i]);
            }
        }
        uint32 version = clusterVersion + 1;
        clusterVersion = version;
        _currentNodeFee = uint96(nodeFee);
        _clusters[version] = Cluster({
            nodes: nodes,
            endpointsCid: endpointsCid,
            spuConfigHash: spuConfigHash,
            nodeFee: nodeFee,
            version: version
        });
        for (uint256 i = 0; i < 3; ++i) {
            // Keep the node's disabled bit: re-registering must not re-enable a suspended node.
            _nodeSlots[nodes[i]] = (uint256(version) << 16) | (_nodeSlots[nodes[i]] & 0xff00) | (i + 1);
            _indexByVersion[version][nodes[i]] = i + 1;
        }
        emit ClusterRegistered(version, nodes, endpointsCid, spuConfigHash, nodeFee);
    }

    /// @notice The current cluster (reverts before one is registered).
    function cluster() external view returns (Cluster memory) {
        if (clusterVersion == 0) revert NoCluster();
        return _clusters[clusterVersion];
    }

    /// @notice The three node addresses of cluster `version` (current or past).
    function clusterNodes(uint32 version) external view returns (address[3] memory) {
        if (version == 0 || version > clusterVersion) revert NoCluster();
        return _clusters[version].nodes;
    }

    /// @notice What a job request needs: the current cluster version and per-node fee.
    function clusterTerms() external view returns (uint32 version, uint256 nodeFee) {
        version = clusterVersion;
        if (version == 0) revert NoCluster();
        nodeFee = _currentNodeFee;
    }

    /// @notice Index (0..2) of `node` in cluster `version`; reverts unless it is an active node of it.
    function nodeIndex(address node, uint32 version) external view returns (uint8) {
        uint256 packed = _nodeSlots[node];
        // One read for the current version (the common case), a second for older versions' jobs.
        uint256 indexPlusOne = packed >> 16 == version ? packed & 0xff : _indexByVersion[version][node];
        if (indexPlusOne == 0 || packed & 0xff00 != 0) revert NotComputeNode(node);
        return uint8(indexPlusOne - 1);
    }

    // ---------------------------------------------------------------- internal

    function _existing(address account) private view returns (Member storage m) {
        m = _members[account];
        if (m.roles == 0) revert NotMember(account);
    }

    function _syncNodeSlot(address account, Member storage m) private {
        uint256 packed = _nodeSlots[account];
        if (packed == 0) return;
        bool disabled = m.suspended || m.roles & COMPUTE_NODE == 0;
        _nodeSlots[account] = disabled ? packed | 0x100 : packed & ~uint256(0x100);
    }

    function _checkRoles(uint8 roles) private pure {
        if (roles == 0 || roles & ~Roles.ALL != 0) revert InvalidRoles(roles);
    }
}
