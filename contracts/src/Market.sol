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
    ///         `policyHash` is the sha256 of the listing's data-use policy document in the blob store
    ///         (zero: the default policy of the nodes' policy version). Every node enforces it.
    struct Dataset {
        address owner;
        uint96 pricePerUse;
        uint32 maxUses;
        uint32 uses;
        uint40 expiresAt;
        Status status;
        bool hasPolicy;
        bytes32 manifestHash;
        bytes32 policyHash;
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
        bytes32 policyHash;
    }

    /// @notice A dataset's differential-privacy budget, in micro-ε (1 ε = 1_000_000). `total` 0 means no
    ///         budget. `spent` counts the ε every job holds: reserved at request, given back by a job that
    ///         never ran, kept by one that did. One slot.
    struct PrivacyBudget {
        uint64 total;
        uint64 perJob;
        uint64 spent;
    }

    IRegistry public immutable registry;
    address public computeJobs;
    uint256 public datasetCount;
    uint256 public algorithmCount;
    mapping(uint256 id => Dataset) private _datasets;
    mapping(uint256 id => Algorithm) private _algorithms;
    mapping(uint256 datasetId => mapping(uint256 algorithmId => bool)) public algorithmPreApproved;
    mapping(uint256 datasetId => mapping(address buyer => bool)) public buyerPreApproved;
    mapping(uint256 datasetId => PrivacyBudget) private _budgets;
    /// @notice Micro-ε a job holds on a dataset: reserved at its request, zero once given back.
    mapping(uint256 jobId => mapping(uint256 datasetId => uint64)) public reservedEpsilon;

    event ComputeJobsSet(address computeJobs);
    event DatasetListed(uint256 indexed id, address indexed owner, DatasetTerms terms);
    event DatasetUpdated(uint256 indexed id, DatasetTerms terms);
    event DatasetDelisted(uint256 indexed id);
    event DatasetAlgorithmPolicySet(uint256 indexed id, uint256 indexed algorithmId, bool preApproved);
    event DatasetBuyerPolicySet(uint256 indexed id, address indexed buyer, bool preApproved);
    /// @notice A dataset's use count changed: counted by an authorized job, or given back by one that never ran.
    event DatasetUsed(uint256 indexed id, uint32 uses);
    event AlgorithmListed(
        uint256 indexed id, address indexed owner, string name, string version, bytes32 codeHash,
        string metadataCid, uint256 pricePerUse, bytes32 secretParamsHash, uint32 maxUses
    );
    event AlgorithmUpdated(uint256 indexed id, string metadataCid, uint256 pricePerUse, bytes32 secretParamsHash,
        uint32 maxUses);
    event AlgorithmDelisted(uint256 indexed id);
    /// @notice An algorithm's use count changed (counted, or given back by a job that never ran).
    event AlgorithmUsed(uint256 indexed id, uint32 uses);
    /// @notice The owner set a dataset's privacy budget (micro-ε; total 0: no budget).
    event PrivacyBudgetSet(uint256 indexed id, uint64 totalMicroEps, uint64 perJobMicroEps);
    /// @notice A job's request reserved `microEps` of a dataset's budget; `spent` is the dataset's total now.
    event EpsilonReserved(uint256 indexed jobId, uint256 indexed datasetId, uint64 microEps, uint64 spent);
    /// @notice A job that never ran gave back the ε it had reserved; `spent` is the dataset's total now.
    event EpsilonReleased(uint256 indexed jobId, uint256 indexed datasetId, uint64 microEps, uint64 spent);

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
    error PolicyChanged(uint256 datasetId, bytes32 atRequest, bytes32 current);
    error PrivacyBudgetExceeded(uint256 datasetId, uint64 requested, uint64 remaining);
    error BudgetBelowSpent(uint256 datasetId, uint64 spent, uint64 totalMicroEps);
    error InvalidPrivacyBudget(uint256 datasetId, uint64 totalMicroEps, uint64 perJobMicroEps);

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

    /// @notice The owner, an active provider, replaces a dataset's terms (max uses may not fall below uses so far).
    function updateDataset(uint256 id, DatasetTerms calldata terms) external {
        Dataset storage d = _ownedDataset(id);
        _requireActive(Roles.PROVIDER);
        if (d.status != Status.Active) revert DatasetNotActive(id);
        _setDatasetTerms(id, d, terms);
        emit DatasetUpdated(id, terms);
    }

    /// @notice The owner pre-approves (or stops pre-approving) algorithms for a dataset. Pre-approving needs
    ///         an active provider; a suspended owner may still stop pre-approving.
    function setAlgorithmPolicy(uint256 id, uint256[] calldata algorithmIds, bool preApproved) external {
        Dataset storage d = _ownedDataset(id);
        if (preApproved) {
            _requireActive(Roles.PROVIDER);
            d.hasPolicy = true;
        }
        for (uint256 i = 0; i < algorithmIds.length; ++i) {
            algorithmPreApproved[id][algorithmIds[i]] = preApproved;
            emit DatasetAlgorithmPolicySet(id, algorithmIds[i], preApproved);
        }
    }

    /// @notice The owner pre-approves (or stops pre-approving) buyers for a dataset. Pre-approving needs an
    ///         active provider; a suspended owner may still stop pre-approving.
    function setBuyerPolicy(uint256 id, address[] calldata buyers, bool preApproved) external {
        Dataset storage d = _ownedDataset(id);
        if (preApproved) {
            _requireActive(Roles.PROVIDER);
            d.hasPolicy = true;
        }
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

    /// @notice The owner sets a dataset's differential-privacy budget, in micro-ε: every job over it then
    ///         spends `perJobMicroEps`, and a request that would spend past `totalMicroEps` reverts.
    ///         Total 0 (with per job 0) removes the budget, which only works while nothing is spent.
    ///         The owner must be an active provider: a suspended one cannot loosen its controls.
    /// @dev The total may never fall below what is spent: privacy loss already released cannot be undone.
    function setPrivacyBudget(uint256 datasetId, uint64 totalMicroEps, uint64 perJobMicroEps) external {
        _ownedDataset(datasetId);
        _requireActive(Roles.PROVIDER);
        PrivacyBudget storage b = _budgets[datasetId];
        if (totalMicroEps < b.spent) revert BudgetBelowSpent(datasetId, b.spent, totalMicroEps);
        bool valid = totalMicroEps == 0
            ? perJobMicroEps == 0
            : perJobMicroEps != 0 && perJobMicroEps <= totalMicroEps;
        if (!valid) revert InvalidPrivacyBudget(datasetId, totalMicroEps, perJobMicroEps);
        b.total = totalMicroEps;
        b.perJob = perJobMicroEps;
        emit PrivacyBudgetSet(datasetId, totalMicroEps, perJobMicroEps);
    }

    /// @notice A dataset's privacy budget in micro-ε: total (0: none), per job, and spent so far.
    function privacyBudgetOf(uint256 datasetId) external view returns (uint64 total, uint64 perJob, uint64 spent) {
        if (_datasets[datasetId].status == Status.None) revert DatasetNotFound(datasetId);
        PrivacyBudget storage b = _budgets[datasetId];
        return (b.total, b.perJob, b.spent);
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

    /// @notice The owner, an active algorithm provider, updates price, metadata, secret-parameter commitment
    ///         and max uses.
    function updateAlgorithm(
        uint256 id,
        string calldata metadataCid,
        uint256 pricePerUse,
        bytes32 secretParamsHash,
        uint32 maxUses
    ) external {
        Algorithm storage a = _ownedAlgorithm(id);
        _requireActive(Roles.ALGORITHM_PROVIDER);
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

    /// @notice Owners, prices and pre-approvals of a prospective job; reverts if it cannot be bought now
    ///         (a listing inactive, expired or used up, or its owner suspended).
    /// @return owners Dataset owners in order, then the algorithm owner.
    /// @return prices Prices per use in the same order.
    /// @return preApproved Bit i set when listing i's policy pre-approves this buyer or algorithm.
    /// @return policyHashes The datasets' policy hashes now in force, in order (the job binds them).
    function quote(uint256[] calldata datasetIds, uint256 algorithmId, address buyer)
        external
        view
        returns (address[] memory owners, uint256[] memory prices, uint256 preApproved, bytes32[] memory policyHashes)
    {
        uint256 n = datasetIds.length;
        if (n == 0 || n > MAX_DATASETS_PER_JOB) revert InvalidDatasetCount(n);
        owners = new address[](n + 1);
        prices = new uint256[](n + 1);
        policyHashes = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = datasetIds[i];
            for (uint256 j = 0; j < i; ++j) {
                if (datasetIds[j] == id) revert DuplicateDataset(id);
            }
            Dataset storage d = _datasets[id];
            _checkDatasetUsable(id, d);
            owners[i] = d.owner;
            prices[i] = d.pricePerUse;
            policyHashes[i] = d.policyHash;
            // A suspended owner can approve nothing: a request would only lock the buyer's escrow.
            if (!registry.isActive(d.owner, Roles.PROVIDER)) revert ListingOwnerInactive(d.owner);
            if (d.hasPolicy && (buyerPreApproved[id][buyer] || algorithmPreApproved[id][algorithmId])) {
                preApproved |= 1 << i;
            }
        }
        Algorithm storage a = _algorithms[algorithmId];
        _checkAlgorithmUsable(algorithmId, a);
        if (!registry.isActive(a.owner, Roles.ALGORITHM_PROVIDER)) revert ListingOwnerInactive(a.owner);
        owners[n] = a.owner;
        prices[n] = a.pricePerUse;
    }

    /// @notice Count one use of each listing of an authorized job. Only ComputeJobs; all or nothing.
    /// @dev Reverts with PolicyChanged when a dataset's policy is no longer the one the job was requested
    ///      under: an approval given under one policy never authorizes a job under another.
    function consume(uint256[] calldata datasetIds, uint256 algorithmId, bytes32[] calldata policyHashes)
        external
    {
        if (msg.sender != computeJobs) revert OnlyComputeJobs(msg.sender);
        for (uint256 i = 0; i < datasetIds.length; ++i) {
            uint256 id = datasetIds[i];
            Dataset storage d = _datasets[id];
            _checkDatasetUsable(id, d);
            if (d.policyHash != policyHashes[i]) revert PolicyChanged(id, policyHashes[i], d.policyHash);
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

    /// @notice Give back the uses an authorized job counted when it ends without any node's attestation.
    ///         Only ComputeJobs. A delisted or expired listing still gets its count back.
    function release(uint256[] calldata datasetIds, uint256 algorithmId) external {
        if (msg.sender != computeJobs) revert OnlyComputeJobs(msg.sender);
        for (uint256 i = 0; i < datasetIds.length; ++i) {
            Dataset storage d = _datasets[datasetIds[i]];
            uint32 uses = d.uses - 1;
            d.uses = uses;
            emit DatasetUsed(datasetIds[i], uses);
        }
        Algorithm storage a = _algorithms[algorithmId];
        uint32 algorithmUses = a.uses - 1;
        a.uses = algorithmUses;
        emit AlgorithmUsed(algorithmId, algorithmUses);
    }

    /// @notice Reserve, for a job being requested, the per-job ε of each of its datasets that has a
    ///         budget. Only ComputeJobs; all or nothing: one dataset short reverts the whole request.
    function reserveEpsilon(uint256 jobId, uint256[] calldata datasetIds) external {
        if (msg.sender != computeJobs) revert OnlyComputeJobs(msg.sender);
        for (uint256 i = 0; i < datasetIds.length; ++i) {
            uint256 id = datasetIds[i];
            PrivacyBudget storage b = _budgets[id];
            (uint64 total, uint64 perJob, uint64 spent) = (b.total, b.perJob, b.spent);
            if (total == 0) continue;
            uint64 remaining = total - spent;
            if (perJob > remaining) revert PrivacyBudgetExceeded(id, perJob, remaining);
            spent += perJob;
            b.spent = spent;
            reservedEpsilon[jobId][id] = perJob;
            emit EpsilonReserved(jobId, id, perJob, spent);
        }
    }

    /// @notice Give back the ε a job reserved, when it ends without having run. Only ComputeJobs.
    ///         Idempotent: what the job holds is released once and is zero after.
    function releaseEpsilon(uint256 jobId, uint256[] calldata datasetIds) external {
        if (msg.sender != computeJobs) revert OnlyComputeJobs(msg.sender);
        for (uint256 i = 0; i < datasetIds.length; ++i) {
            uint256 id = datasetIds[i];
            uint64 held = reservedEpsilon[jobId][id];
            if (held == 0) continue;
            reservedEpsilon[jobId][id] = 0;
            PrivacyBudget storage b = _budgets[id];
            uint64 spent = b.spent - held;
            b.spent = spent;
            emit EpsilonReleased(jobId, id, held, spent);
        }
    }

    // ---------------------------------------------------------------- internal

    /// @dev After the ownership check, so that a stranger hears NotListingOwner, a suspended owner this.
    function _requireActive(uint8 role) private view {
        if (!registry.isActive(msg.sender, role)) revert NotActiveMember(msg.sender, role);
    }

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
        d.policyHash = terms.policyHash;
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
