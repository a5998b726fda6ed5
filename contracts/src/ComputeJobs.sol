// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IRegistry} from "./IRegistry.sol";
import {IMarket} from "./IMarket.sol";
import * as Roles from "./Roles.sol";

/// @title ComputeJobs
/// @notice Compute contracts: a buyer escrows payment for running an algorithm on listed datasets; the
///         listing owners approve (directly or by EIP-712 signature); the three cluster nodes attest the
///         run and the destruction of their inputs; payments are credited and pulled with `withdraw`.
/// @dev Gas layout: a job keeps one packed slot, the hash of its terms (the terms themselves travel in
///      the JobRequested event and are passed back as calldata, checked against the hash), and, once
///      attested, the agreed inputs digest. Each node's output-share hash is published in its
///      JobAttested event (logs are part of consensus), not stored: three fresh slots per job would
///      cost more than the rest of the attestations together.
///      Each account has one slot holding its credit (as amount + 1, so the slot never returns to zero
///      and re-crediting after a withdrawal is a cheap write) and its first 160 approval nonces, so an
///      owner's first approval and first payment initialize one slot, not two.
contract ComputeJobs is EIP712, ReentrancyGuard {
    uint8 private constant ALL_NODES = 7;
    uint256 private constant CREDIT_MASK = (1 << 96) - 1;
    uint256 private constant SHARED_NONCES = 160;

    bytes32 public constant APPROVAL_TYPEHASH =
        keccak256("Approval(uint256 jobId,bytes32 programHash,address owner,uint256 nonce,uint256 deadline)");
    bytes32 public constant DECLINE_TYPEHASH =
        keccak256("Decline(uint256 jobId,address owner,uint256 nonce,uint256 deadline)");

    enum Status {
        None,
        Requested,
        Authorized,
        Completed,
        Disputed,
        Declined,
        Refunded,
        Refused
    }

    /// @notice One packed storage slot per job.
    /// @dev `pending`: bit i set while listing i (datasets in order, then the algorithm) awaits its
    ///      owner's approval. `nodeFlags`: bits 0-2 node i attested, bits 4-6 node i attested destruction.
    struct Job {
        address buyer;
        Status status;
        uint16 pending;
        uint8 nodeFlags;
        uint40 deadline;
        uint24 clusterVersion;
    }

    /// @notice Everything a job commits to; stored as keccak256(abi.encode(terms)).
    struct Terms {
        uint256[] datasetIds;
        uint256 algorithmId;
        address[] owners;
        uint256[] prices;
        uint256 nodeFee;
        bytes32 programHash;
        bytes32 paramsHash;
        address resultReceiver;
        bytes32 resultKey;
        bytes32[] policyHashes;
    }

    /// @notice Arguments of `request`.
    struct Request {
        uint256[] datasetIds;
        uint256 algorithmId;
        bytes32 paramsHash;
        bytes32 programHash;
        address resultReceiver;
        bytes32 resultKey;
        uint40 deadline;
    }

    /// @notice An owner's EIP-712 signature over Approval (or Decline), relayed by anyone.
    struct Signed {
        address owner;
        uint256 nonce;
        uint256 deadline;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }


    IRegistry public immutable registry;
    IMarket public immutable market;
    uint256 public jobCount;
    mapping(uint256 jobId => Job) private _jobs;
    mapping(uint256 jobId => bytes32) public termsHash;
    /// @notice The inputs digest the first node attested, which the other two must match.
    mapping(uint256 jobId => bytes32) public inputsDigest;
    /// @dev Bits 0-95: wei the account may withdraw, plus one once ever credited (0 = never);
    ///      bits 96-255: nonces 0-159 used. Nonces from 160 on live in `_usedNonces`.
    mapping(address account => uint256) private _accounts;
    mapping(address owner => mapping(uint256 word => uint256 bits)) private _usedNonces;

    event JobRequested(uint256 indexed jobId, address indexed buyer, Terms terms, uint40 deadline,
        uint24 clusterVersion, uint16 pending);
    event JobApproved(uint256 indexed jobId, address indexed owner, bool bySignature, uint256 nonce);
    event JobDeclined(uint256 indexed jobId, address indexed owner, uint256 refund);
    event JobAuthorized(uint256 indexed jobId);
    event JobAttested(uint256 indexed jobId, address indexed node, uint8 nodeIndex, bytes32 inputsDigest,
        bytes32 programHash, bytes32 outputShareHash, bytes32 policyDigest);
    event JobCompleted(uint256 indexed jobId, bytes32 inputsDigest, uint256 paid);
    event JobDisputed(uint256 indexed jobId, address indexed node, bytes32 expectedDigest, bytes32 attestedDigest,
        uint256 refund);
    event DestructionAttested(uint256 indexed jobId, address indexed node, uint8 nodeIndex, bytes32 receiptHash);
    event JobRefunded(uint256 indexed jobId, address indexed buyer, uint256 refund);
    event JobRefused(uint256 indexed jobId, address indexed node, uint8 nodeIndex, string rule, uint256 refund);
    event NonceInvalidated(address indexed owner, uint256 nonce);
    event Withdrawal(address indexed account, uint256 amount);

    error NotActiveMember(address account, uint8 role);
    error InvalidResultReceiver(address receiver);
    error ResultKeyMismatch(address receiver, bytes32 registered, bytes32 given);
    error PolicyDigestMismatch(uint256 jobId, bytes32 expected, bytes32 attested);
    error InvalidHash(string field);
    error DeadlineInPast(uint256 deadline, uint256 nowTimestamp);
    error WrongPayment(uint256 expected, uint256 received);
    error JobNotFound(uint256 jobId);
    error InvalidStatus(uint256 jobId, Status status);
    error TermsMismatch(uint256 jobId);
    error NotPendingApprover(uint256 jobId, address owner);
    error SignatureExpired(address owner, uint256 deadline);
    error InvalidSigner(address owner, address signer);
    error NonceAlreadyUsed(address owner, uint256 nonce);
    error ProgramHashMismatch(uint256 jobId, bytes32 expected, bytes32 attested);
    error AlreadyAttested(uint256 jobId, address node);
    error RunAlreadyAttested(uint256 jobId);
    error NotAttested(uint256 jobId, address node);
    error DestructionAlreadyAttested(uint256 jobId, address node);
    error NotBuyer(uint256 jobId, address caller);
    error DeadlineNotReached(uint256 jobId, uint256 deadline, uint256 nowTimestamp);
    error DeadlinePassed(uint256 jobId, uint256 deadline, uint256 nowTimestamp);
    error NothingToWithdraw(address account);
    error TransferFailed(address account, uint256 amount);
    error CreditOverflow(address account, uint256 amount);

    constructor(IRegistry registry_, IMarket market_) EIP712("DataExchange ComputeJobs", "1") {
        registry = registry_;
        market = market_;
    }

    // ---------------------------------------------------------------- request

    /// @notice Request a job, paying exactly the listing prices plus three node fees into escrow.
    /// @return jobId The new job's id (counting from 1).
    /// @dev No reentrancy guard needed: the only external calls go to the immutable Registry and Market.
    function request(Request calldata r) external payable returns (uint256 jobId) {
        if (!registry.isActive(msg.sender, Roles.BUYER)) revert NotActiveMember(msg.sender, Roles.BUYER);
        if (r.resultReceiver != msg.sender && !registry.isActive(r.resultReceiver, Roles.REGULATOR)) {
            revert InvalidResultReceiver(r.resultReceiver);
        }
        if (r.programHash == bytes32(0)) revert InvalidHash("programHash");
        if (r.resultKey == bytes32(0)) revert InvalidHash("resultKey");
        // Only the receiver can open the result: its key is the one it registered, not one the buyer picks.
        bytes32 registered = registry.encryptionKeyOf(r.resultReceiver);
        if (r.resultKey != registered) revert ResultKeyMismatch(r.resultReceiver, registered, r.resultKey);
        if (r.deadline <= block.timestamp) revert DeadlineInPast(r.deadline, block.timestamp);
        (uint32 version, uint256 nodeFee) = registry.clusterTerms();
        (address[] memory owners, uint256[] memory prices, uint256 preApproved, bytes32[] memory policyHashes) =
            market.quote(r.datasetIds, r.algorithmId, msg.sender);

        uint256 escrow = 3 * nodeFee;
        uint256 pending;
        for (uint256 i = 0; i < owners.length; ++i) {
            escrow += prices[i];
            if (preApproved & (1 << i) == 0 && owners[i] != msg.sender) pending |= 1 << i;
        }
        if (msg.value != escrow) revert WrongPayment(escrow, msg.value);

        Terms memory terms = Terms({
            datasetIds: r.datasetIds,
            algorithmId: r.algorithmId,
            owners: owners,
            prices: prices,
            nodeFee: nodeFee,
            programHash: r.programHash,
            paramsHash: r.paramsHash,
            resultReceiver: r.resultReceiver,
            resultKey: r.resultKey,
            policyHashes: policyHashes
        });
        jobId = ++jobCount;
        termsHash[jobId] = keccak256(abi.encode(terms));
        // Privacy budgets are spent at request, like a seat: a request that would overspend never exists.
        market.reserveEpsilon(jobId, r.datasetIds);
        Job memory job = Job({
            buyer: msg.sender,
            status: Status.Requested,
            pending: uint16(pending),
            nodeFlags: 0,
            deadline: r.deadline,
            clusterVersion: uint24(version)
        });
        emit JobRequested(jobId, msg.sender, terms, r.deadline, uint24(version), uint16(pending));
        if (pending == 0) _authorize(jobId, job, r.datasetIds, r.algorithmId, policyHashes);
        _jobs[jobId] = job;
    }

    // ---------------------------------------------------------------- approvals

    /// @notice The caller approves, as owner of one or more of the job's listings.
    function approve(uint256 jobId, Terms calldata terms) external {
        Job memory job = _approvable(jobId, terms);
        _approve(jobId, job, terms, msg.sender, false, 0);
        _finishApprovals(jobId, job, terms);
    }

    /// @notice Relay owners' EIP-712 Approval signatures; all in one transaction.
    function approveBatch(uint256 jobId, Terms calldata terms, Signed[] calldata approvals) external {
        Job memory job = _approvable(jobId, terms);
        for (uint256 i = 0; i < approvals.length; ++i) {
            Signed calldata a = approvals[i];
            bytes32 structHash =
                keccak256(abi.encode(APPROVAL_TYPEHASH, jobId, terms.programHash, a.owner, a.nonce, a.deadline));
            _checkSignature(structHash, a);
            _approve(jobId, job, terms, a.owner, true, a.nonce);
        }
        _finishApprovals(jobId, job, terms);
    }

    /// @notice The caller, an owner whose approval is pending, declines: the buyer's escrow is refundable.
    function decline(uint256 jobId, Terms calldata terms) external nonReentrant {
        Job memory job = _requested(jobId, terms);
        _decline(jobId, job, terms, msg.sender);
    }

    /// @notice Relay an owner's EIP-712 Decline signature.
    function declineBySig(uint256 jobId, Terms calldata terms, Signed calldata d) external nonReentrant {
        Job memory job = _requested(jobId, terms);
        _checkSignature(keccak256(abi.encode(DECLINE_TYPEHASH, jobId, d.owner, d.nonce, d.deadline)), d);
        _decline(jobId, job, terms, d.owner);
    }

    /// @notice Burn one of the caller's nonces so a signature carrying it can never be used.
    function invalidateNonce(uint256 nonce) external {
        _useNonce(msg.sender, nonce);
        emit NonceInvalidated(msg.sender, nonce);
    }

    // ---------------------------------------------------------------- attestations

    /// @notice A cluster node attests its run: inputs digest (equal on all nodes), the program it ran,
    ///         the hash of its output share, and the digest of the dataset policies it enforced (which
    ///         must be those the job was requested under). The third agreeing attestation completes the job.
    function attest(
        uint256 jobId,
        Terms calldata terms,
        bytes32 digest,
        bytes32 programHash,
        bytes32 outputShareHash,
        bytes32 policyDigest
    ) external {
        Job memory job = _jobWithTerms(jobId, terms);
        if (job.status != Status.Authorized) revert InvalidStatus(jobId, job.status);
        // Past the deadline the job belongs to the buyer's reclaim, not to a late completion.
        if (block.timestamp > job.deadline) revert DeadlinePassed(jobId, job.deadline, block.timestamp);
        if (programHash != terms.programHash) revert ProgramHashMismatch(jobId, terms.programHash, programHash);
        bytes32 expectedPolicies = policyDigestOf(terms.policyHashes);
        if (policyDigest != expectedPolicies) revert PolicyDigestMismatch(jobId, expectedPolicies, policyDigest);
        uint8 index = registry.nodeIndex(msg.sender, job.clusterVersion);
        uint8 bit = uint8(1 << index);
        if (job.nodeFlags & bit != 0) revert AlreadyAttested(jobId, msg.sender);

        bytes32 agreed;
        if (job.nodeFlags & ALL_NODES == 0) {
            agreed = digest;
            inputsDigest[jobId] = digest;
        } else {
            agreed = inputsDigest[jobId];
        }
        job.nodeFlags |= bit;
        emit JobAttested(jobId, msg.sender, index, digest, programHash, outputShareHash, policyDigest);

        if (digest != agreed) {
            job.status = Status.Disputed;
            uint256 refund = _escrow(terms);
            _credit(job.buyer, refund);
            emit JobDisputed(jobId, msg.sender, agreed, digest, refund);
        } else if (job.nodeFlags & ALL_NODES == ALL_NODES) {
            job.status = Status.Completed;
            uint256 paid = _payOut(terms, job.clusterVersion);
            emit JobCompleted(jobId, agreed, paid);
        }
        _jobs[jobId] = job;
    }

    /// @notice A cluster node refuses an authorized job no node has run (a policy rule or a check failed,
    ///         named by `rule`). The job cannot run without all three nodes, so it ends here: the buyer's
    ///         escrow is credited back and the listings' uses return.
    function refuse(uint256 jobId, Terms calldata terms, string calldata rule) external nonReentrant {
        Job memory job = _jobWithTerms(jobId, terms);
        if (job.status != Status.Authorized) revert InvalidStatus(jobId, job.status);
        if (job.nodeFlags & ALL_NODES != 0) revert RunAlreadyAttested(jobId);
        uint8 index = registry.nodeIndex(msg.sender, job.clusterVersion);
        job.status = Status.Refused;
        _jobs[jobId] = job;
        market.release(terms.datasetIds, terms.algorithmId);
        market.releaseEpsilon(jobId, terms.datasetIds);
        uint256 refund = _escrow(terms);
        _credit(job.buyer, refund);
        emit JobRefused(jobId, msg.sender, index, rule, refund);
    }

    /// @notice A node that attested the run attests it destroyed its inputs, intermediates and output.
    function attestDestruction(uint256 jobId, bytes32 receiptHash) external {
        Job storage job = _jobs[jobId];
        if (job.status == Status.None) revert JobNotFound(jobId);
        uint8 index = registry.nodeIndex(msg.sender, job.clusterVersion);
        uint8 flags = job.nodeFlags;
        if (flags & (1 << index) == 0) revert NotAttested(jobId, msg.sender);
        if (flags & (1 << (index + 4)) != 0) revert DestructionAlreadyAttested(jobId, msg.sender);
        job.nodeFlags = flags | uint8(1 << (index + 4));
        emit DestructionAttested(jobId, msg.sender, index, receiptHash);
    }

    // ---------------------------------------------------------------- money

    /// @notice After the deadline, the buyer of an unfinished job gets its escrow back (credited).
    function reclaim(uint256 jobId, Terms calldata terms) external nonReentrant {
        Job memory job = _jobWithTerms(jobId, terms);
        if (msg.sender != job.buyer) revert NotBuyer(jobId, msg.sender);
        if (job.status != Status.Requested && job.status != Status.Authorized) {
            revert InvalidStatus(jobId, job.status);
        }
        if (block.timestamp <= job.deadline) revert DeadlineNotReached(jobId, job.deadline, block.timestamp);
        // A job no node ran gives its listings' uses back; one that some node ran keeps them.
        bool counted = job.status == Status.Authorized;
        bool ran = job.nodeFlags & ALL_NODES != 0;
        job.status = Status.Refunded;
        _jobs[jobId] = job;
        if (counted && !ran) market.release(terms.datasetIds, terms.algorithmId);
        // ε is reserved at request, so a job still awaiting approvals holds it too.
        if (!ran) market.releaseEpsilon(jobId, terms.datasetIds);
        uint256 refund = _escrow(terms);
        _credit(job.buyer, refund);
        emit JobRefunded(jobId, job.buyer, refund);
    }

    /// @notice Anyone may give back the privacy budget (ε) a job holds once its deadline passed with no
    ///         node's attestation: it can no longer run, and the listings' budgets need not wait for its
    ///         buyer to reclaim (who may never). The escrow and the uses stay for the buyer's reclaim.
    function releaseExpiredEpsilon(uint256 jobId, Terms calldata terms) external {
        Job memory job = _jobWithTerms(jobId, terms);
        if (job.status != Status.Requested && job.status != Status.Authorized) {
            revert InvalidStatus(jobId, job.status);
        }
        if (block.timestamp <= job.deadline) revert DeadlineNotReached(jobId, job.deadline, block.timestamp);
        if (job.nodeFlags & ALL_NODES != 0) revert RunAlreadyAttested(jobId);
        market.releaseEpsilon(jobId, terms.datasetIds);
    }

    /// @notice Pay out the caller's whole credited balance.
    function withdraw() external nonReentrant returns (uint256 amount) {
        uint256 slot = _accounts[msg.sender];
        uint256 credit = slot & CREDIT_MASK;
        if (credit <= 1) revert NothingToWithdraw(msg.sender);
        amount = credit - 1;
        _accounts[msg.sender] = (slot & ~CREDIT_MASK) | 1;
        emit Withdrawal(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views

    /// @notice The stored part of a job (its terms are in the JobRequested event; see termsHash).
    function getJob(uint256 jobId) external view returns (Job memory) {
        if (_jobs[jobId].status == Status.None) revert JobNotFound(jobId);
        return _jobs[jobId];
    }

    /// @notice Wei `account` may withdraw.
    function balanceOf(address account) external view returns (uint256) {
        uint256 credit = _accounts[account] & CREDIT_MASK;
        return credit == 0 ? 0 : credit - 1;
    }

    /// @notice True when `owner` has used or invalidated `nonce`.
    function nonceUsed(address owner, uint256 nonce) external view returns (bool) {
        if (nonce < SHARED_NONCES) return _accounts[owner] & (1 << (96 + nonce)) != 0;
        uint256 n = nonce - SHARED_NONCES;
        return _usedNonces[owner][n >> 8] & (1 << (n & 0xff)) != 0;
    }

    /// @notice The digest a node attests for the policies it enforced: sha256("dx-policies/v1" || hashes).
    function policyDigestOf(bytes32[] memory policyHashes) public pure returns (bytes32) {
        return sha256(abi.encodePacked("dx-policies/v1", policyHashes));
    }

    /// @notice The EIP-712 domain separator of this contract on this chain.
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---------------------------------------------------------------- internal

    function _jobWithTerms(uint256 jobId, Terms calldata terms) private view returns (Job memory job) {
        job = _jobs[jobId];
        if (job.status == Status.None) revert JobNotFound(jobId);
        if (keccak256(abi.encode(terms)) != termsHash[jobId]) revert TermsMismatch(jobId);
    }

    function _requested(uint256 jobId, Terms calldata terms) private view returns (Job memory job) {
        job = _jobWithTerms(jobId, terms);
        if (job.status != Status.Requested) revert InvalidStatus(jobId, job.status);
    }

    function _approvable(uint256 jobId, Terms calldata terms) private view returns (Job memory job) {
        job = _requested(jobId, terms);
        if (block.timestamp > job.deadline) revert DeadlinePassed(jobId, job.deadline, block.timestamp);
    }

    function _checkSignature(bytes32 structHash, Signed calldata s) private {
        if (s.deadline < block.timestamp) revert SignatureExpired(s.owner, s.deadline);
        address signer = ECDSA.recover(_hashTypedDataV4(structHash), s.v, s.r, s.s);
        if (signer != s.owner) revert InvalidSigner(s.owner, signer);
        _useNonce(s.owner, s.nonce);
    }

    function _useNonce(address owner, uint256 nonce) private {
        if (nonce < SHARED_NONCES) {
            uint256 slot = _accounts[owner];
            uint256 sharedBit = 1 << (96 + nonce);
            if (slot & sharedBit != 0) revert NonceAlreadyUsed(owner, nonce);
            _accounts[owner] = slot | sharedBit;
            return;
        }
        uint256 n = nonce - SHARED_NONCES;
        uint256 bit = 1 << (n & 0xff);
        uint256 bits = _usedNonces[owner][n >> 8];
        if (bits & bit != 0) revert NonceAlreadyUsed(owner, nonce);
        _usedNonces[owner][n >> 8] = bits | bit;
    }

    /// @dev Clears every pending bit of `owner` (an owner of several listings approves once).
    function _approve(uint256 jobId, Job memory job, Terms calldata terms, address owner, bool bySig, uint256 nonce)
        private
    {
        uint16 pending = job.pending;
        uint16 cleared = pending;
        for (uint256 i = 0; i < terms.owners.length; ++i) {
            if (terms.owners[i] == owner) cleared &= ~uint16(1 << i);
        }
        if (cleared == pending) revert NotPendingApprover(jobId, owner);
        if (!registry.isActive(owner, 0)) revert NotActiveMember(owner, 0);
        job.pending = cleared;
        emit JobApproved(jobId, owner, bySig, nonce);
    }

    function _finishApprovals(uint256 jobId, Job memory job, Terms calldata terms) private {
        if (job.pending == 0) _authorize(jobId, job, terms.datasetIds, terms.algorithmId, terms.policyHashes);
        _jobs[jobId] = job;
    }

    function _authorize(
        uint256 jobId,
        Job memory job,
        uint256[] calldata datasetIds,
        uint256 algorithmId,
        bytes32[] memory policyHashes
    ) private {
        market.consume(datasetIds, algorithmId, policyHashes);
        job.status = Status.Authorized;
        emit JobAuthorized(jobId);
    }

    function _decline(uint256 jobId, Job memory job, Terms calldata terms, address owner) private {
        bool isPending;
        for (uint256 i = 0; i < terms.owners.length; ++i) {
            if (terms.owners[i] == owner && job.pending & (1 << i) != 0) isPending = true;
        }
        if (!isPending) revert NotPendingApprover(jobId, owner);
        job.status = Status.Declined;
        _jobs[jobId] = job;
        market.releaseEpsilon(jobId, terms.datasetIds);
        uint256 refund = _escrow(terms);
        _credit(job.buyer, refund);
        emit JobDeclined(jobId, owner, refund);
    }

    function _credit(address account, uint256 amount) private {
        uint256 slot = _accounts[account];
        uint256 credit = slot & CREDIT_MASK;
        uint256 updated = (credit == 0 ? 1 : credit) + amount;
        if (updated > CREDIT_MASK) revert CreditOverflow(account, amount);
        _accounts[account] = (slot & ~CREDIT_MASK) | updated;
    }

    function _escrow(Terms calldata terms) private pure returns (uint256 total) {
        total = 3 * terms.nodeFee;
        for (uint256 i = 0; i < terms.prices.length; ++i) {
            total += terms.prices[i];
        }
    }

    function _payOut(Terms calldata terms, uint24 clusterVersion) private returns (uint256 paid) {
        for (uint256 i = 0; i < terms.owners.length; ++i) {
            _credit(terms.owners[i], terms.prices[i]);
            paid += terms.prices[i];
        }
        address[3] memory nodes = registry.clusterNodes(clusterVersion);
        for (uint256 i = 0; i < 3; ++i) {
            _credit(nodes[i], terms.nodeFee);
        }
        paid += 3 * terms.nodeFee;
    }
}
