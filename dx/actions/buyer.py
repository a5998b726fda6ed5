"""Buyer actions: search, request a job (spec + program hash), follow it, fetch and reconstruct the result.

The result comes from the chain and the exchange alone: the nodes' JobAttested records say which output
shares to trust, the exchange's blob store serves them. Each node's progress is read from the chain too
(JobAttested, DestructionAttested): the nodes' control APIs are the operator's, not the buyer's.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.live import Live

from dx import context, identities, output
from dx.actions.membership import require_active
from dx.errors import InputError, RemoteError, StackError, VerificationError
from dx_core.cid import cid_from_digest
from dx_core.roles import Role
from exchange_api.client import ExchangeError
from mpc_compute import job_spec
from mpc_compute.blob_source import HttpBlobStore
from mpc_compute.manifest import Manifest

# The algorithm library and the output client load jax and spu (seconds): they are imported inside the
# functions that need them.

TERMINAL = {"completed", "settled", "declined", "refunded", "disputed"}
NODE_DONE = {"succeeded", "failed", "refused"}


def search_catalog(acting: str, query: str) -> list[dict]:
    client = context.client(acting)
    q = {"q": query} if query else {}
    datasets = client.search_datasets(page_size=100, **q)["items"]
    return datasets + client.search_algorithms(page_size=100, **q)["items"]


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(items: list[str]) -> dict[str, Any]:
    """`KEY=VALUE` items; VALUE is JSON when it parses (numbers, lists, objects), else a string."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--param {item!r} is not KEY=VALUE", hint="e.g. -p min_cohort=5")
        out[key] = _parse_value(value)
    return out


def parse_input(item: str) -> tuple[str, str, str, list[str] | None]:
    """`NAME=SOURCE[.ARRAY][:COL,COL]` -> (name, source, array, columns); SOURCE is a dataset id or
    `model` (the algorithm listing's secret model); ARRAY defaults to features (datasets)."""
    name, sep, rest = item.partition("=")
    if not sep or not name or not rest:
        raise InputError(f"--dataset {item!r} is not NAME=ID[.ARRAY][:COLUMNS]",
                         hint="e.g. -d data_0=3:revenue")
    source_array, _, cols = rest.partition(":")
    source, _, array = source_array.partition(".")
    if source != "model" and not source.isdigit():
        raise InputError(f"--dataset {item!r}: {source!r} is neither a dataset id nor `model`")
    default_array = "features" if source != "model" else ""
    return name, source, array or default_array, (cols.split(",") if cols else None)


def _manifest(client: Any, manifest_hash_hex: str) -> Manifest:
    digest = bytes.fromhex(manifest_hash_hex.removeprefix("0x"))
    return Manifest.from_bytes(client.get_blob(cid_from_digest(digest)), digest)


def request_job(acting: str, algorithm: str, inputs: list[str], params: list[str], receiver: str | None,
                deadline_s: int = 3600) -> dict:
    """Build the job spec from the listings' manifests, compute the program hash, request the job."""
    from mpc_compute import algorithms

    client = context.client(acting)
    require_active(client.account.address, Role.BUYER, acting, "it cannot request a job")
    if algorithm.isdigit():
        alg_listing = client.algorithm(int(algorithm))
    else:
        found = [a for a in client.search_algorithms(q=algorithm, page_size=100)["items"]
                 if a.get("extra", {}).get("algorithm") == algorithm or a.get("title") == algorithm]
        if not found:
            raise InputError(f"no algorithm listing named {algorithm!r}", hint="see `dx catalog search`")
        alg_listing = found[0]
    on_chain = context.ledger().market.algorithm(int(alg_listing["id"]))  # the chain names what runs
    alg = algorithms.ALGORITHMS.get(on_chain.name)
    if alg is None or alg.version != on_chain.version:
        raise InputError(f"algorithm listing {alg_listing['id']} is {on_chain.name}@{on_chain.version}, "
                         "which this client's library does not have", hint="update the checkout")
    manifests, job_inputs, dataset_ids = {}, [], []
    for item in inputs:
        name, source, array, cols = parse_input(item)
        if source == "model":
            listing_id, kind = alg_listing["id"], "model"
            mhash = _secret_hash(on_chain)
        else:
            listing = client.dataset(int(source))
            listing_id, kind, mhash = listing["id"], "dataset", listing["manifest_hash"]
            if listing_id not in dataset_ids:
                dataset_ids.append(listing_id)
                # The chain takes the request and the escrow, but no suspended owner can ever approve it.
                require_active(context.ledger().market.dataset(listing_id).owner, 0,
                               f"the owner of dataset {listing_id}", "no job over its listing can be "
                               "approved, so the request is refused before any escrow is locked")
        manifest = _manifest(client, mhash)
        manifests[mhash.removeprefix("0x")] = manifest
        array = array or manifest.arrays[0].name
        job_inputs.append(job_spec.JobInput(name, kind, listing_id, mhash.removeprefix("0x"), array,
                                            tuple(cols) if cols else None))
    who = receiver or acting
    receiver_info = identities.info(who)
    public_params = job_params(client, alg, parse_params(params), job_inputs, manifests, dataset_ids)

    def make_spec(outputs: tuple[str, ...]):
        return job_spec.JobSpec(alg.name, alg.version, tuple(job_inputs), outputs, receiver_info.address,
                                receiver_info.x25519_public, public_params)

    try:  # the outputs depend on the parameters: ask the compiler, then check the whole spec as nodes will
        shapes = job_spec.input_shapes(make_spec(()), manifests)
        outputs = tuple(algorithms.compile_program(alg.name, shapes, public_params).output_names)
        spec = make_spec(outputs)
        program = job_spec.compile_for(spec, manifests)
    except (job_spec.JobSpecError, algorithms.AlgorithmError) as exc:
        raise InputError(f"the job does not fit the listings: {exc}") from None
    client.put_blob(spec.to_bytes())
    try:
        job_id = client.request_job(dataset_ids, int(alg_listing["id"]), spec.digest(), program.program_hash,
                                    bytes.fromhex(receiver_info.x25519_public), int(time.time()) + deadline_s,
                                    receiver_info.address)
    except ExchangeError as exc:
        reason = exc.contract_error or exc.problem.get("title", "")
        raise RemoteError(f"the job request was refused ({reason}): {exc.problem.get('detail', exc)}",
                          hint="check the listings' status, uses and terms: `dx dataset show ID`") from None
    return {"job_id": job_id, "algorithm": alg.name, "datasets": dataset_ids, "receiver": who,
            "params_hash": "0x" + spec.digest().hex(), "program_hash": "0x" + program.program_hash.hex()}


def job_params(client: Any, alg: Any, asked: dict, job_inputs: list, manifests: dict,
               dataset_ids: list[int]) -> dict:
    """The public parameters the job must carry: a model fixes its own (the buyer may not choose them), and
    the algorithm's group floor is raised to the largest k of the datasets' policies (nodes check both)."""
    from mpc_compute.policy import load_policy, required_floor

    model = next((i for i in job_inputs if i.kind == "model"), None)
    if model is not None:
        fixed = manifests[model.manifest_hash].public_params
        if asked and asked != fixed:
            raise InputError(f"the model listing fixes its public parameters to {fixed}; --param cannot "
                             "change them", hint="drop the --param options")
        asked = dict(fixed)
    from dx.actions.budget import dp_params

    ledger = context.ledger()
    policies = [load_policy(bytes(ledger.market.dataset(d).policy_hash), client.get_blob)
                for d in dataset_ids]
    return dp_params(required_floor(asked, alg, policies), alg, dataset_ids)


def _secret_hash(on_chain) -> str:
    value = bytes(on_chain.secret_params_hash)
    if not value or set(value) == {0}:
        raise InputError(f"algorithm listing {on_chain.id} has no secret model")
    return value.hex()


def node_states(job_id: int) -> list[dict | None]:
    """Each node's stages of the job as the chain records them; None for a node that left no record.

    A node attests (JobAttested), publishes its output share once the job is COMPLETED, then attests its
    destruction (DestructionAttested): "succeeded" is both records on a completed job; a node that
    attested a job which then ended otherwise withheld its share ("failed").
    """
    ledger = context.ledger()
    job = ledger.jobs.job(job_id)
    if job is None:
        return [None, None, None]
    timelines: list[list[dict]] = [[], [], []]
    stages = {"JobAttested": "attested", "DestructionAttested": "destruction_attested"}
    for ev in ledger.events(job.request_block):
        if ev.contract != "ComputeJobs" or ev.event not in stages or int(ev.args["jobId"]) != job_id:
            continue
        at = int(ledger.w3.eth.get_block(ev.block_number)["timestamp"])
        timelines[int(ev.args["nodeIndex"])].append({"stage": stages[ev.event], "at": at})
    ended = job.status.name in ("REFUNDED", "DISPUTED", "DECLINED")
    out: list[dict | None] = []
    for timeline in timelines:
        if not timeline:
            out.append(None)
            continue
        names = {e["stage"] for e in timeline}
        if job.status.name == "COMPLETED" and "destruction_attested" in names:
            status = "succeeded"
        else:
            status = "failed" if ended else "running"
        out.append({"status": status, "timeline": timeline, "error": None})
    return out


def job_status(acting: str, job_id: int) -> dict:
    job = context.client(acting).job(job_id)
    nodes = node_states(job_id)
    job["nodes"] = [{"index": i, "status": n["status"] if n else "idle",
                     "stage": n["timeline"][-1]["stage"] if n and n["timeline"] else None,
                     "error": n.get("error") if n else None} for i, n in enumerate(nodes)]
    return job


def _finished(job: dict) -> bool:
    if job["status"] in {"declined", "refunded", "disputed"}:
        return True
    results = [a for a in job.get("attestations", []) if a["kind"] == "result"]
    nodes_done = all(n["status"] in NODE_DONE for n in job["nodes"])
    # three results on-chain is not enough: a node publishes its share after the job completes
    return job["status"] in TERMINAL and (nodes_done or (len(results) == 3 and job["status"] != "completed"))


def watch_job(acting: str, job_id: int, timeout: float = 900.0) -> dict:
    """Follow the job live (status + each node's stage) until it is done, declined or failed."""
    end = time.monotonic() + timeout
    with Live(console=output.err_console if output.json_mode() else output.console, transient=True) as live:
        while True:
            job = job_status(acting, job_id)
            nodes = "  ".join(f"node{n['index']}: {n['stage'] or n['status']}" for n in job["nodes"])
            live.update(f"job #{job_id} [bold]{job['status']}[/]   {nodes}")
            failed = [n for n in job["nodes"] if n["status"] in {"failed", "refused"}]
            settled_nodes = len(failed) + sum(n["status"] == "succeeded" for n in job["nodes"])
            if _finished(job) or (failed and settled_nodes == 3):
                return job
            if time.monotonic() > end:
                raise StackError(f"job {job_id} is still {job['status']} after {timeout:.0f}s ({nodes})",
                                 hint="check the nodes with `dx logs node-0`")
            time.sleep(0.5)


def reconstruct(acting: str, job_id: int) -> dict[str, Any]:
    """The job's outputs, reconstructed by the result receiver after checking every share.

    The chain is the authority: each node's JobAttested record (its transaction is its signature) names
    the output-share hash to trust; the shares come from the exchange's blob store. No node is asked.
    """
    from mpc_compute.clients.output import ResultError, fetch_result

    context.client(acting).job(job_id)  # the exchange knows the job and shows it to `acting`
    ledger = context.ledger()
    job = ledger.jobs.job(job_id)
    if job is None:
        raise RemoteError(f"job {job_id} does not exist on-chain")
    attested = ledger.jobs.attestations(job_id)
    missing = sorted(set(range(3)) - {a.node_index for a in attested})
    if missing:
        who = " and ".join(f"node {i}" for i in missing)
        raise RemoteError(f"{who} has not attested job {job_id} on-chain yet",
                          hint=f"follow the job with `dx job status {job_id} --watch`")
    ident = identities.load(acting)
    try:
        return fetch_result(job_id, attested, ident.x25519, HttpBlobStore(context.api_url()),
                            expected_addresses=context.cluster_addresses(),
                            expected_program_hash=bytes(job.program_hash))
    except ResultError as exc:
        raise VerificationError(f"the result of job {job_id} does not check out: {exc}") from None


def fetch_result(acting: str, job_id: int, out: Path) -> dict:
    result = reconstruct(acting, job_id)
    doc = {name: value.tolist() for name, value in result.items()}
    Path(out).write_text(json.dumps({"job_id": job_id, "outputs": doc}, indent=1) + "\n")
    return {"job_id": job_id, "file": str(out), "outputs": {k: list(v.shape) for k, v in result.items()}}
