// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IRegistry} from "./IRegistry.sol";
import * as Roles from "./Roles.sol";

/// @title Market
/// @notice Dataset and algorithm listings: price per use, usage limits, expiry, approval policy.
/// @dev Only the ComputeJobs contract may count uses. Fields a job request reads sit in two packed slots.
contract Market is AccessControl {
    uint256 public constant MAX_DATASETS_PER_JOB = 15;

    enum Status {
        None,
        Active,
        Delisted
    }

    /// @notice A dataset listing. `maxUses` 0 means unlimited, `expiresAt` 0 means never.
    struct Dataset {
        address owner;
        uint32 minCohortSize;
        uint96 pricePerUse;
        uint32 maxUses;
        uint32 uses;
        uint40 expiresAt;
        Status status;
        bool hasPolicy;
        bytes32 manifestHash;
        string metadataCid;
    }

    /// @notice An algorithm (or model) listing. `secretParamsHash` commits to secret-shared parameters.
    struct Algorithm {
        address owner;
        uint96 pricePerUse;
        uint32 maxUses;
        uint32 uses;
        Status status;
        bytes32 codeHash;
        bytes32 secretParamsHash;
        string name;
        string version;
        string metadataCid;
    }

    /// @notice Arguments of listDataset and updateDataset.
    struct DatasetTerms {
        string metadataCid;
        bytes32 manifestHash;
        uint256 pricePerUse;
        uint32 maxUses;
        uint40 expiresAt;
        uint32 minCohortSize;
    }

    IRegistry public immutable registry;
    address public computeJobs;
    uint256 public datasetCount;
    uint256 public algorithmCount;
    mapping(uint256 id => Dataset) private _datasets;
    mapping(uint256 id => Algorithm) private _algorithms;
    mapping(uint256 datasetId => mapping(uint256 algorithmId => bool)) public algorithmPreApproved;
    mapping(uint256 datasetId => mapping(address buyer => bool)) public buyerPreApproved;

    event ComputeJobsSet(address computeJobs);
    event DatasetListed(uint256 indexed id, address indexed owner, DatasetTerms terms);
    event DatasetUpdated(uint256 indexed id, DatasetTerms terms);
    event DatasetDelisted(uint256 indexed id);
    event DatasetAlgorithmPolicySet(uint256 indexed id, uint256 indexed algorithmId, bool preApproved);
    event DatasetBuyerPolicySet(uint256 indexed id, address indexed buyer, bool preApproved);
    event DatasetUsed(uint256 indexed id, uint32 uses);
    event AlgorithmListed(
        uint256 indexed id, address indexed owner, string name, string version, bytes32 codeHash,
        string metadataCid, uint256 pricePerUse, bytes32 secretParamsHash, uint32 maxUses
    );
    event AlgorithmUpdated(uint256 indexed id, string metadataCid, uint256 pricePerUse, bytes32 secretParamsHash,
        uint32 maxUses);
    event AlgorithmDelisted(uint256 indexed id);
    event AlgorithmUsed(uint256 indexed id, uint32 uses);

    error NotActiveMember(address account, uint8 role);
    error NotListingOwner(uint256 listingId, address caller);
    error DatasetNotFound(uint256 datasetId);
    error AlgorithmNotFound(uint256 algorithmId);
    error DatasetNotActive(uint256 datasetId);
    error AlgorithmNotActive(uint256 algorithmId);
    error DatasetExpired(uint256 datasetId, uint256 expiresAt);
    error UsageLimitReached(uint256 listingId, uint256 uses, uint256 maxUses);
    error AlgorithmUsageLimitReached(uint256 algorithmId, uint256 uses, uint256 maxUses);
    error MaxUsesBelowUses(uint256 listingId, uint256 uses, uint256 maxUses);
    error PriceTooLarge(uint256 price);
    error ExpiryInPast(uint256 expiresAt);
    error DuplicateDataset(uint256 datasetId);
    error InvalidDatasetCount(uint256 count);
    error ListingOwnerInactive(address owner);
    error OnlyComputeJobs(address caller);
    error ComputeJobsAlreadySet(address computeJobs);

    modifier onlyRegistered(uint8 role) {
        if (!registry.isActive(msg.sender, role)) revert NotActiveMember(msg.sender, role);
        _;
    }

    /// @param operator Admin: wires in ComputeJobs once.
    /// @param registry_ The member registry.
    constructor(address operator, IRegistry registry_) {
        _grantRole(DEFAULT_ADMIN_ROLE, operator);
        registry = registry_;
    }

    /// @notice Set the one contract allowed to count uses. Can be done once.
    function setComputeJobs(address computeJobs_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (computeJobs != address(0)) revert ComputeJobsAlreadySet(computeJobs);
        computeJobs = computeJobs_;
        emit ComputeJobsSet(computeJobs_);
    }

    // ---------------------------------------------------------------- datasets

    /// @notice List a dataset (caller must be an active PROVIDER).
    function listDataset(DatasetTerms calldata terms) external onlyRegistered(Roles.PROVIDER) returns (uint256 id) {
        id = ++datasetCount;
        Dataset storage d = _datasets[id];
        d.owner = msg.sender;
        d.status = Status.Active;
        _setDatasetTerms(id, d, terms);
        emit DatasetListed(id, msg.sender, terms);
    }

    /// @notice The owner replaces a dataset's terms (max uses may not fall below uses so far).
    function updateDataset(uint256 id, DatasetTerms calldata terms) external {
        Dataset storage d = _ownedDataset(id);
        if (d.status != Status.Active) revert DatasetNotActive(id);
        _setDatasetTerms(id, d, terms);
        emit DatasetUpdated(id, terms);
    }

    /// @notice The owner pre-approves (or stops pre-approving) algorithms for a dataset.
    function setAlgorithmPolicy(uint256 id, uint256[] calldata algorithmIds, bool preApproved) external {
        Dataset storage d = _ownedDataset(id);
        if (preApproved) d.hasPolicy = true;
        for (uint256 i = 0; i < algorithmIds.length; ++i) {
            algorithmPreApproved[id][algorithmIds[i]] = preApproved;
            emit DatasetAlgorithmPolicySet(id, algorithmIds[i], preApproved);
        }
    }

    /// @notice The owner pre-approves (or stops pre-approving) buyers for a dataset.
    function setBuyerPolicy(uint256 id, address[] calldata buyers, bool preApproved) external {
        Dataset storage d = _ownedDataset(id);
        if (preApproved) d.hasPolicy = true;
        for (uint256 i = 0; i < buyers.length; ++i) {
            buyerPreApproved[id][buyers[i]] = preApproved;
            emit DatasetBuyerPolicySet(id, buyers[i], preApproved);
        }
    }

    /// @notice The owner withdraws a dataset from sale. Jobs not yet authorized can no longer be.
    function delistDataset(uint256 id) external {
        Dataset storage d = _ownedDataset(id);
        if (d.status != Status.Active) revert DatasetNotActive(id);
        d.status = Status.Delisted;
        emit DatasetDelisted(id);
    }

    /// @notice A dataset listing.
    function dataset(uint256 id) external view returns (Dataset memory) {
        if (_datasets[id].status == Status.None) revert DatasetNotFound(id);
        return _datasets[id];
    }

    // ---------------------------------------------------------------- algorithms

    /// @notice List an algorithm or model (caller must be an active ALGORITHM_PROVIDER).
    function listAlgorithm(
        string calldata name,
        string calldata version,
        bytes32 codeHash,
        string calldata metadataCid,
        uint256 pricePerUse,
        bytes32 secretParamsHash,
        uint32 maxUses
    ) external onlyRegistered(Roles.ALGORITHM_PROVIDER) returns (uint256 id) {
        if (pricePerUse > type(uint96).max) revert PriceTooLarge(pricePerUse);
        id = ++algorithmCount;
        _algorithms[id] = Algorithm({
            owner: msg.sender,
            pricePerUse: uint96(pricePerUse),
            maxUses: maxUses,
            uses: 0,
            status: Status.Active,
            codeHash: codeHash,
            secretParamsHash: secretParamsHash,
            name: name,
            version: version,
            metadataCid: metadataCid
        });
        emit AlgorithmListed(id, msg.sender, name, version, codeHash, metadataCid, pricePerUse, secretParamsHash,
            maxUses);
    }

    /// @notice The owner updates price, metadata, secret-parameter commitment and max uses.
    function updateAlgorithm(
        uint256 id,
        string calldata metadataCid,
        uint256 pricePerUse,
        bytes32 secretParamsHash,
        uint32 maxUses
    ) external {
        Algorithm storage a = _ownedAlgorithm(id);
        if (a.status != Status.Active) revert AlgorithmNotActive(id);
        if (pricePerUse > type(uint96).max) revert PriceTooLarge(pricePerUse);
        if (maxUses != 0 && maxUses < a.uses) revert MaxUsesBelowUses(id, a.uses, maxUses);
        a.metadataCid = metadataCid;
        a.pricePerUse = uint96(pricePerUse);
        a.secretParamsHash = secretParamsHash;
        a.maxUses = maxUses;
        emit AlgorithmUpdated(id, metadataCid, pricePerUse, secretParamsHash, maxUses);
    }

    /// @notice The owner withdraws an algorithm from sale.
    function delistAlgorithm(uint256 id) external {
        Algorithm storage a = _ownedAlgorithm(id);
        if (a.status != Status.Active) revert AlgorithmNotActive(id);
        a.status = Status.Delisted;
        emit AlgorithmDelisted(id);
    }

    /// @notice An algorithm listing.
    function algorithm(uint256 id) external view returns (Algorithm memory) {
        if (_algorithms[id].status == Status.None) revert AlgorithmNotFound(id);
        return _algorithms[id];
    }

    // ---------------------------------------------------------------- jobs

    /// @notice Owners, prices and pre-approvals of a prospective job; reverts if it cannot be bought now.
    /// @return owners Dataset owners in order, then the algorithm owner.
    /// @return prices Prices per use in the same order.
    /// @return preApproved Bit i set when listing i's policy pre-approves this buyer or algorithm.
    function quote(uint256[] calldata datasetIds, uint256 algorithmId, address buyer)
        external
        view
        returns (address[] memory owners, uint256[] memory prices, uint256 preApproved)
    {
        uint256 n = datasetIds.length;
        if (n == 0 || n > MAX_DATASETS_PER_JOB) revert InvalidDatasetCount(n);
        owners = new address[](n + 1);
        prices = new uint256[](n + 1);
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = datasetIds[i];
            for (uint256 j = 0; j < i; ++j) {
                if (datasetIds[j] == id) revert DuplicateDataset(id);
            }
            Dataset storage d = _datasets[id];
            _checkDatasetUsable(id, d);
            owners[i] = d.owner;
            prices[i] = d.pricePerUse;
            // Owners who must approve are checked when they do; a pre-approved listing's owner here.
            if (d.hasPolicy && (buyerPreApproved[id][buyer] || algorithmPreApproved[id][algorithmId])) {
                if (!registry.isActive(d.owner, Roles.PROVIDER)) revert ListingOwnerInactive(d.owner);
                preApproved |= 1 << i;
            }
        }
        Algorithm storage a = _algorithms[algorithmId];
        _checkAlgorithmUsable(algorithmId, a);
        owners[n] = a.owner;
        prices[n] = a.pricePerUse;
    }

    /// @notice Count one use of each listing of an authorized job. Only ComputeJobs; all or nothing.
    function consume(uint256[] calldata datasetIds, uint256 algorithmId) external {
        if (msg.sender != computeJobs) revert OnlyComputeJobs(msg.sender);
        for (uint256 i = 0; i < datasetIds.length; ++i) {
            uint256 id = datasetIds[i];
            Dataset storage d = _datasets[id];
            _checkDatasetUsable(id, d);
            uint32 uses = d.uses + 1;
            d.uses = uses;
            emit DatasetUsed(id, uses);
        }
        Algorithm storage a = _algorithms[algorithmId];
        _checkAlgorithmUsable(algorithmId, a);
        uint32 algorithmUses = a.uses + 1;
        a.uses = algorithmUses;
        emit AlgorithmUsed(algorithmId, algorithmUses);
    }

    // ---------------------------------------------------------------- internal

    function _checkDatasetUsable(uint256 id, Dataset storage d) private view {
        if (d.status != Status.Active) {
            if (d.status == Status.None) revert DatasetNotFound(id);
            revert DatasetNotActive(id);
        }
        if (d.expiresAt != 0 && block.timestamp >= d.expiresAt) revert DatasetExpired(id, d.expiresAt);
        if (d.maxUses != 0 && d.uses >= d.maxUses) revert UsageLimitReached(id, d.uses, d.maxUses);
    }

    function _checkAlgorithmUsable(uint256 id, Algorithm storage a) private view {
        if (a.status != Status.Active) {
            if (a.status == Status.None) revert AlgorithmNotFound(id);
            revert AlgorithmNotActive(id);
        }
        if (a.maxUses != 0 && a.uses >= a.maxUses) revert AlgorithmUsageLimitReached(id, a.uses, a.maxUses);
    }

    function _setDatasetTerms(uint256 id, Dataset storage d, DatasetTerms calldata terms) private {
        if (terms.pricePerUse > type(uint96).max) revert PriceTooLarge(terms.pricePerUse);
        if (terms.expiresAt != 0 && terms.expiresAt <= block.timestamp) revert ExpiryInPast(terms.expiresAt);
        if (terms.maxUses != 0 && terms.maxUses < d.uses) revert MaxUsesBelowUses(id, d.uses, terms.maxUses);
        d.metadataCid = terms.metadataCid;
        d.manifestHash = terms.manifestHash;
        d.pricePerUse = uint96(terms.pricePerUse);
        d.maxUses = terms.maxUses;
        d.expiresAt = terms.expiresAt;
        d.minCohortSize = terms.minCohortSize;
    }

    function _ownedDataset(uint256 id) private view returns (Dataset storage d) {
        d = _datasets[id];
        if (d.status == Status.None) revert DatasetNotFound(id);
        if (d.owner != msg.sender) revert NotListingOwner(id, msg.sender);
    }

    function _ownedAlgorithm(uint256 id) private view returns (Algorithm storage a) {
        a = _algorithms[id];
        if (a.status == Status.None) revert AlgorithmNotFound(id);
        if (a.owner != msg.sender) revert NotListingOwner(id, msg.sender);
    }
}
