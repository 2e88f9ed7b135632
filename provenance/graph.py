"""The license-chain graph: from an output back to every license and rights holder behind it.

Pure and Django-free (networkx + stdlib); provenance.chain loads the facts from the database.

Two graphs, because a model may have learned from a million works and a C2PA manifest must stay small:

- the **training graph** of a training manifest: the manifest node, every training work (`includes`), the
  license that cleared each work for training (`cleared_by`), each license's licensor (`granted_by`) and each
  work's rights holder (`held_by`). It never changes once the manifest is recorded (manifests, works, licenses
  and parties are append-only; revocations are later facts, reported as "rights now", not edits of the chain),
  so its digest is computed once per manifest;
- the **output graph** of a job: the cue (`output`) → its job (`generated_by`) → the model (`used_model`) →
  the training manifest (`trained_on`), whose node carries the training graph's digest and counts; the gate
  decisions (`decided_by`); and the small style-reference subgraph: each requested style tag or named artist
  (`style_reference`) → its works (`refers_to`, at most `STYLE_WORK_LIMIT` listed, all of them counted and
  digested) → the licenses that allow them as style references (`licensed_by`) → licensors and holders.

Every node carries its type and the index of the ledger entry that recorded it (`ledger_index`), so each
claim in the graph can be checked against the ledger with an inclusion proof. Node ids are natural keys
(work and license keys, party keys, the model's slug, the manifest's Merkle root), never database ids, so the
same facts give the same graph on any installation and database.

**Canonical form** (`GRAPH_FORMAT`): networkx node-link JSON (`{"directed", "graph", "links", "multigraph",
"nodes"}`) with nodes sorted by id and links by (source, target), each object's keys sorted, no whitespace,
UTF-8, integers and strings only (licensing.canonical's rules). The digest is SHA-256 over those bytes. The
training graph is also written by a streaming writer (`training_graph_chunks`) that yields exactly the same
bytes without building a million-node graph in memory; tests hold the two to byte equality.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from licensing.canonical import canonical_bytes

GRAPH_FORMAT = "clearcue.license-graph.v1"
STYLE_WORK_LIMIT = 100  # works listed per style reference; the rest are counted and digested

# Node types, in the order the chain is drawn (left to right).
OUTPUT, JOB, DECISION, MODEL, MANIFEST, STYLE, WORK, LICENSE, PARTY = (
    "output", "job", "gate_decision", "model", "training_manifest", "style_reference", "work", "license", "party")
NODE_TYPES = (OUTPUT, JOB, DECISION, MODEL, MANIFEST, STYLE, WORK, LICENSE, PARTY)

# Edge types: what the source depends on.
GENERATED_BY, USED_MODEL, DECIDED_BY, TRAINED_ON, INCLUDES, CLEARED_BY, GRANTED_BY, HELD_BY = (
    "generated_by", "used_model", "decided_by", "trained_on", "includes", "cleared_by", "granted_by", "held_by")
STYLE_REF, REFERS_TO, LICENSED_BY = "style_reference", "refers_to", "licensed_by"


class GraphError(ValueError):
    """A graph or a fetched subgraph is malformed or does not match its digest."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- Facts ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyFact:
    """A rights holder, licensor or creator."""

    key: str
    name: str
    ledger_index: int


@dataclass(frozen=True)
class LicenseFact:
    """A license (or public-domain basis) that cleared works."""

    key: str
    basis: str
    licensor: str  # party key
    uses: tuple[str, ...]
    ledger_index: int


@dataclass(frozen=True)
class TrainingRow:
    """One training work as the manifest records it, with its rights holder."""

    work: str  # work key
    sha256: str
    license: str  # license key
    basis: str
    ledger_index: int  # the work's `work.registered` entry
    holder: str = ""  # party key of the rights holder ("" when none is recorded)


@dataclass(frozen=True)
class ManifestFact:
    """A training manifest as recorded (`manifest.created`)."""

    name: str
    merkle_root: str
    leaf_format: str
    territory: str
    work_count: int
    ledger_index: int


@dataclass(frozen=True)
class TrainingSummary:
    """What the output graph says about a training graph it does not inline."""

    digest: str
    works: int
    licenses: int
    parties: int
    links: int

    def to_json(self) -> dict[str, Any]:
        """Canonical-safe form."""
        return {"digest": self.digest, "format": GRAPH_FORMAT, "works": self.works, "licenses": self.licenses,
                "parties": self.parties, "links": self.links}


@dataclass(frozen=True)
class StyleWork:
    """A work behind a style reference and the license allowing it as one ("" when none does)."""

    work: str
    ledger_index: int
    license: str = ""
    holder: str = ""


@dataclass(frozen=True)
class StyleFact:
    """A requested style tag or a named artist, and the works behind it."""

    kind: str  # "tag" | "named_artist"
    label: str
    works: tuple[StyleWork, ...]  # all of them; the graph lists the first STYLE_WORK_LIMIT by key


@dataclass(frozen=True)
class DecisionFact:
    """A gate decision on the job."""

    stage: str
    allowed: bool
    policy_version: int
    reasons: tuple[str, ...]
    ledger_index: int


@dataclass(frozen=True)
class OutputFacts:
    """Everything an output graph is built from."""

    job: str  # natural job reference: "<organization slug>/<idempotency key>"
    job_ledger_index: int  # `job.submitted`
    organization: str
    territory: str
    use: str
    created_at: str  # ISO 8601, UTC
    model_slug: str
    model_checkpoint_sha256: str
    model_ledger_index: int
    manifest: ManifestFact
    training: TrainingSummary
    decisions: tuple[DecisionFact, ...]
    styles: tuple[StyleFact, ...]
    licenses: Mapping[str, LicenseFact] = field(default_factory=dict)  # those the style works cite
    parties: Mapping[str, PartyFact] = field(default_factory=dict)  # their licensors and the works' holders
    watermark: Mapping[str, Any] = field(default_factory=dict)  # {"alg", "value", "ledger_index"}
    formats: tuple[str, ...] = ()


# --- Node ids ------------------------------------------------------------------------------------------------------


def output_id(job: str) -> str:
    """The cue a job produced (its audio, MIDI and MusicXML deliverables are renderings of it)."""
    return f"output:{job}"


def job_id(job: str) -> str:
    """A job by its natural reference."""
    return f"job:{job}"


def work_id(key: str) -> str:
    """A catalog work by its key."""
    return f"work:{key}"


def license_id(key: str) -> str:
    """A license by its key."""
    return f"license:{key}"


def party_id(key: str) -> str:
    """A party by its key."""
    return f"party:{key}"


def manifest_id(root: str) -> str:
    """A training manifest by its Merkle root."""
    return f"manifest:{root}"


def model_id(slug: str) -> str:
    """A model by `name@version`."""
    return f"model:{slug}"


# --- Building ------------------------------------------------------------------------------------------------------


def _manifest_attrs(manifest: ManifestFact) -> dict[str, Any]:
    return {"type": MANIFEST, "name": manifest.name, "merkle_root": manifest.merkle_root,
            "leaf_format": manifest.leaf_format, "territory": manifest.territory, "works": manifest.work_count,
            "ledger_index": manifest.ledger_index}


def _work_attrs(row: TrainingRow) -> dict[str, Any]:
    return {"type": WORK, "key": row.work, "sha256": row.sha256, "ledger_index": row.ledger_index}


def _license_attrs(lic: LicenseFact) -> dict[str, Any]:
    return {"type": LICENSE, "key": lic.key, "basis": lic.basis, "uses": list(lic.uses),
            "ledger_index": lic.ledger_index}


def _party_attrs(party: PartyFact) -> dict[str, Any]:
    return {"type": PARTY, "key": party.key, "name": party.name, "ledger_index": party.ledger_index}


def training_graph(manifest: ManifestFact, rows: Iterable[TrainingRow], licenses: Mapping[str, LicenseFact],
                   parties: Mapping[str, PartyFact]) -> nx.DiGraph:
    """The training graph of a manifest as a networkx graph (for queries and pictures of modest manifests)."""
    graph = nx.DiGraph(format=GRAPH_FORMAT, kind="training")
    root = manifest_id(manifest.merkle_root)
    graph.add_node(root, **_manifest_attrs(manifest))
    for row in rows:
        work = work_id(row.work)
        graph.add_node(work, **_work_attrs(row))
        graph.add_edge(root, work, type=INCLUDES)
        graph.add_edge(work, license_id(row.license), type=CLEARED_BY, basis=row.basis)
        if row.holder:
            graph.add_edge(work, party_id(row.holder), type=HELD_BY)
    _add_licenses_and_parties(graph, licenses, parties)
    return graph


def _add_licenses_and_parties(graph: nx.DiGraph, licenses: Mapping[str, LicenseFact],
                              parties: Mapping[str, PartyFact]) -> None:
    """Attributes for the license and party nodes the edges name (each must be known), and licensor edges."""
    for node in [n for n in graph.nodes if n.startswith("license:")]:
        lic = licenses.get(node.removeprefix("license:"))
        if lic is None:
            raise GraphError("graph_unknown_license", f"no facts for {node}")
        graph.add_node(node, **_license_attrs(lic))
        graph.add_edge(node, party_id(lic.licensor), type=GRANTED_BY)
    for node in [n for n in graph.nodes if n.startswith("party:")]:
        party = parties.get(node.removeprefix("party:"))
        if party is None:
            raise GraphError("graph_unknown_party", f"no facts for {node}")
        graph.add_node(node, **_party_attrs(party))


def output_graph(facts: OutputFacts) -> nx.DiGraph:
    """The output graph of a job (small whatever the training set's size)."""
    graph = nx.DiGraph(format=GRAPH_FORMAT, kind="output")
    out, job = output_id(facts.job), job_id(facts.job)
    graph.add_node(out, type=OUTPUT, job=facts.job, formats=sorted(facts.formats),
                   watermark={k: facts.watermark[k] for k in sorted(facts.watermark)},
                   ledger_index=int(facts.watermark.get("ledger_index", facts.job_ledger_index)))
    graph.add_node(job, type=JOB, reference=facts.job, organization=facts.organization, territory=facts.territory,
                   use=facts.use, created_at=facts.created_at, ledger_index=facts.job_ledger_index)
    graph.add_edge(out, job, type=GENERATED_BY)
    model = model_id(facts.model_slug)
    graph.add_node(model, type=MODEL, slug=facts.model_slug, checkpoint_sha256=facts.model_checkpoint_sha256,
                   ledger_index=facts.model_ledger_index)
    graph.add_edge(job, model, type=USED_MODEL)
    manifest = manifest_id(facts.manifest.merkle_root)
    graph.add_node(manifest, **_manifest_attrs(facts.manifest), training_graph=facts.training.to_json())
    graph.add_edge(model, manifest, type=TRAINED_ON)
    for decision in facts.decisions:
        node = f"decision:{facts.job}/{decision.stage}"
        graph.add_node(node, type=DECISION, stage=decision.stage, allowed=decision.allowed,
                       policy_version=decision.policy_version, reasons=sorted(decision.reasons),
                       ledger_index=decision.ledger_index)
        graph.add_edge(job, node, type=DECIDED_BY)
    for style in facts.styles:
        node = f"style:{style.kind}:{style.label}"
        works = sorted(style.works, key=lambda w: w.work)
        listed = works[:STYLE_WORK_LIMIT]
        graph.add_node(node, type=STYLE, kind=style.kind, label=style.label, works=len(works),
                       listed=len(listed), works_digest=_keys_digest(w.work for w in works),
                       licensed=sum(1 for w in works if w.license), ledger_index=facts.job_ledger_index)
        graph.add_edge(job, node, type=STYLE_REF)
        for item in listed:
            work = work_id(item.work)
            graph.add_node(work, type=WORK, key=item.work, ledger_index=item.ledger_index)
            graph.add_edge(node, work, type=REFERS_TO)
            if item.license:
                graph.add_edge(work, license_id(item.license), type=LICENSED_BY)
            if item.holder:
                graph.add_edge(work, party_id(item.holder), type=HELD_BY)
    _add_licenses_and_parties(graph, facts.licenses, facts.parties)
    return graph


def _keys_digest(keys: Iterable[str]) -> str:
    """SHA-256 over the sorted keys, one per line (so a long list can be checked without inlining it)."""
    digest = hashlib.sha256()
    for key in sorted(keys):
        digest.update(key.encode() + b"\n")
    return digest.hexdigest()


# --- Canonical serialization and digests -----------------------------------------------------------------------------


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def node_link(graph: nx.DiGraph) -> dict[str, Any]:
    """The canonical node-link document (nodes by id, links by (source, target))."""
    nodes = [{"id": node, **graph.nodes[node]} for node in sorted(graph.nodes)]
    links = [{"source": s, "target": t, **graph.edges[s, t]} for s, t in sorted(graph.edges)]
    return {"directed": True, "graph": dict(graph.graph), "links": links, "multigraph": False, "nodes": nodes}


def canonical(graph: nx.DiGraph) -> bytes:
    """The graph's canonical bytes (refuses floats and other non-canonical values)."""
    return canonical_bytes(node_link(graph))


def digest(graph: nx.DiGraph) -> str:
    """SHA-256 (hex) of the canonical bytes."""
    return hashlib.sha256(canonical(graph)).hexdigest()


def from_node_link(document: Mapping[str, Any]) -> nx.DiGraph:
    """Read a node-link document back into a graph (the inverse of `node_link`)."""
    if document.get("directed") is not True or document.get("multigraph") is not False:
        raise GraphError("graph_malformed", "a license-chain graph is a directed simple graph")
    try:
        graph = nx.DiGraph(**dict(document.get("graph", {})))
        for node in document["nodes"]:
            attrs = dict(node)
            graph.add_node(attrs.pop("id"), **attrs)
        for link in document["links"]:
            attrs = dict(link)
            source, target = attrs.pop("source"), attrs.pop("target")
            if source not in graph or target not in graph:
                raise GraphError("graph_dangling_link", f"link {source} -> {target} names a missing node")
            graph.add_edge(source, target, **attrs)
    except (KeyError, TypeError) as exc:
        raise GraphError("graph_malformed", f"not a node-link document: {exc}") from None
    return graph


def training_graph_chunks(manifest: ManifestFact, rows: Callable[[], Iterable[TrainingRow]],
                          licenses: Mapping[str, LicenseFact], parties: Mapping[str, PartyFact]) -> Iterator[bytes]:
    """The training graph's canonical bytes, streamed: equal to `canonical(training_graph(...))`.

    `rows` is called twice (links, then nodes) and must yield the rows in work-key order (the manifest's
    order) both times; nothing per work is kept in memory. Ids sort as "license:" < "manifest:" < "party:" <
    "work:", and a work's links sort as cleared_by (license:) before held_by (party:).
    """
    root = manifest_id(manifest.merkle_root)
    for lic in licenses.values():
        if lic.licensor not in parties:
            raise GraphError("graph_unknown_party", f"no facts for licensor {lic.licensor!r}")
    graph_attrs = {"format": GRAPH_FORMAT, "kind": "training"}
    yield f'{{"directed":true,"graph":{_dumps(graph_attrs)},"links":['.encode()
    first = True

    def item(text: str) -> bytes:
        nonlocal first
        out = text if first else "," + text
        first = False
        return out.encode()

    for key in sorted(licenses, key=license_id):
        lic = licenses[key]
        yield item(_dumps({"source": license_id(key), "target": party_id(lic.licensor), "type": GRANTED_BY}))
    root_text = _dumps(root)
    for row in rows():  # manifest -> work
        yield item(f'{{"source":{root_text},"target":{_dumps(work_id(row.work))},"type":"{INCLUDES}"}}')
    previous = ""
    for row in rows():  # work -> license, work -> holder
        if row.work <= previous:
            raise GraphError("graph_rows_unordered", f"training rows must be in work-key order ({row.work!r})")
        previous = row.work
        if row.license not in licenses:
            raise GraphError("graph_unknown_license", f"no facts for license {row.license!r}")
        work = _dumps(work_id(row.work))
        yield item(f'{{"basis":{_dumps(row.basis)},"source":{work},"target":{_dumps(license_id(row.license))},'
                   f'"type":"{CLEARED_BY}"}}')
        if row.holder:
            if row.holder not in parties:
                raise GraphError("graph_unknown_party", f"no facts for holder {row.holder!r}")
            yield item(f'{{"source":{work},"target":{_dumps(party_id(row.holder))},"type":"{HELD_BY}"}}')
    yield b'],"multigraph":false,"nodes":['
    first = True
    for key in sorted(licenses, key=license_id):
        yield item(_dumps({"id": license_id(key), **_license_attrs(licenses[key])}))
    yield item(_dumps({"id": root, **_manifest_attrs(manifest)}))
    used = {lic.licensor for lic in licenses.values()}
    holders = set(parties) - used
    for key in sorted(used | holders, key=party_id):
        yield item(_dumps({"id": party_id(key), **_party_attrs(parties[key])}))
    for row in rows():
        yield item(_dumps({"id": work_id(row.work), **_work_attrs(row)}))
    yield b"]}"


def training_summary(manifest: ManifestFact, rows: Callable[[], Iterable[TrainingRow]],
                     licenses: Mapping[str, LicenseFact], parties: Mapping[str, PartyFact]) -> TrainingSummary:
    """Digest and counts of a training graph, streamed (`parties` must be exactly the licensors and holders)."""
    hasher = hashlib.sha256()
    for chunk in training_graph_chunks(manifest, rows, licenses, parties):
        hasher.update(chunk)
    works = sum(1 for _ in rows())
    held = sum(1 for row in rows() if row.holder)
    return TrainingSummary(hasher.hexdigest(), works, len(licenses), len(parties),
                           links=len(licenses) + 2 * works + held)


def check_training_graph(data: bytes, summary: Mapping[str, Any], merkle_root: str,
                         leaf_hash: Callable[[TrainingRow], bytes], tree_hash: Callable[[Sequence[bytes]], bytes]
                         ) -> nx.DiGraph:
    """Check a fetched training graph against the digest an output graph carries and the manifest's Merkle root.

    Raises GraphError (`graph_digest_mismatch`, `graph_root_mismatch`); returns the graph when both hold.
    """
    if hashlib.sha256(data).hexdigest() != summary.get("digest"):
        raise GraphError("graph_digest_mismatch", "the training graph does not match the digest in the output graph")
    graph = from_node_link(json.loads(data))
    rows = []
    for node, attrs in graph.nodes(data=True):
        if attrs.get("type") != WORK:
            continue
        licenses = [t for _, t, e in graph.out_edges(node, data=True) if e.get("type") == CLEARED_BY]
        if len(licenses) != 1:
            raise GraphError("graph_malformed", f"{node} must be cleared by exactly one license")
        basis = graph.edges[node, licenses[0]].get("basis", "")
        rows.append(TrainingRow(attrs["key"], attrs["sha256"], licenses[0].removeprefix("license:"), basis,
                                int(attrs["ledger_index"])))
    rows.sort(key=lambda r: r.work.encode())
    if tree_hash([leaf_hash(r) for r in rows]).hex() != merkle_root:
        raise GraphError("graph_root_mismatch", "the training graph's works do not hash to the manifest's root")
    return graph


# --- Queries -------------------------------------------------------------------------------------------------------


def dependencies(graph: nx.DiGraph, node: str) -> dict[str, list[str]]:
    """Everything `node` depends on, grouped by node type (ids sorted)."""
    if node not in graph:
        raise GraphError("graph_unknown_node", f"{node} is not in the graph")
    grouped: dict[str, list[str]] = {}
    for other in nx.descendants(graph, node):
        grouped.setdefault(str(graph.nodes[other].get("type", "")), []).append(other)
    return {kind: sorted(ids) for kind, ids in sorted(grouped.items())}


def dependents(graph: nx.DiGraph, node: str, *, of_type: str | None = None) -> list[str]:
    """Every node that depends on `node` (optionally only those of one type), sorted."""
    if node not in graph:
        raise GraphError("graph_unknown_node", f"{node} is not in the graph")
    found = nx.ancestors(graph, node)
    return sorted(n for n in found if of_type is None or graph.nodes[n].get("type") == of_type)


def counts(graph: nx.DiGraph) -> dict[str, int]:
    """Nodes per type, and links."""
    out: dict[str, int] = {}
    for _, attrs in graph.nodes(data=True):
        kind = str(attrs.get("type", ""))
        out[kind] = out.get(kind, 0) + 1
    out["links"] = graph.number_of_edges()
    return dict(sorted(out.items()))


def combined(output: nx.DiGraph, training: nx.DiGraph) -> nx.DiGraph:
    """The whole chain: an output graph with its training graph attached at the manifest node."""
    graph = nx.compose(training, output)  # output's attributes win where both have a node (the manifest)
    graph.graph.update(kind="combined")
    return graph


def manifest_assertion(graph: nx.DiGraph) -> dict[str, Any]:
    """What the C2PA manifest carries: the output graph's digest and counts, the training summary and root, and
    the style-reference subgraph (small by construction) in canonical node-link form."""
    manifests = [attrs for _, attrs in graph.nodes(data=True) if attrs.get("type") == MANIFEST]
    if len(manifests) != 1:
        raise GraphError("graph_malformed", "an output graph has exactly one training manifest")
    styles = [n for n, attrs in graph.nodes(data=True) if attrs.get("type") == STYLE]
    keep: set[str] = set(styles)
    for node in styles:
        keep |= nx.descendants(graph, node)
    style_graph = graph.subgraph(keep).copy()
    style_graph.graph.update(kind="style")
    return {"format": GRAPH_FORMAT, "digest": digest(graph), "counts": counts(graph),
            "training_manifest": {"merkle_root": manifests[0]["merkle_root"],
                                  "training_graph": manifests[0]["training_graph"]},
            "style_subgraph": node_link(style_graph)}
