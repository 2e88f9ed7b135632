"""The license-chain graph (pure): canonical bytes, digests, the streamed training graph, queries."""

from __future__ import annotations

import hashlib
import json

import pytest

from generation.manifest import tree_hash
from licensing import merkle
from licensing.canonical import canonical_bytes
from provenance import graph as g

MANIFEST = g.ManifestFact("cue@1", "ab" * 32, "clearcue.manifest-record.v1", "US", 3, 40)
LICENSES = {
    "pd:public-domain": g.LicenseFact("pd:public-domain", "public_domain", "public-domain", ("ai_training",), 5),
    "nordlys/2026": g.LicenseFact("nordlys/2026", "agreement", "nordlys", ("ai_training", "style_reference"), 9),
}
PARTIES = {
    "public-domain": g.PartyFact("public-domain", "Public domain", 1),
    "nordlys": g.PartyFact("nordlys", "Nordlys Musikk AS", 2),
    "mara": g.PartyFact("mara", "Mara Lindqvist", 3),
}
ROWS = [
    g.TrainingRow("bach/bwv1.6", "11" * 32, "pd:public-domain", "public_domain", 10),
    g.TrainingRow("nordlys/fjord-ø", "22" * 32, "nordlys/2026", "agreement", 12, holder="mara"),
    g.TrainingRow("nordlys/harbour", "33" * 32, "nordlys/2026", "agreement", 13, holder="nordlys"),
]


def facts(**overrides) -> g.OutputFacts:
    base = dict(
        job="studio-a/cue-1", job_ledger_index=50, organization="studio-a", territory="US", use="commercial",
        created_at="2026-11-21T10:00:00.000000+00:00", model_slug="cue@1", model_checkpoint_sha256="cc" * 32,
        model_ledger_index=41, manifest=MANIFEST, training=g.TrainingSummary("dd" * 32, 3, 2, 3, 8),
        decisions=(g.DecisionFact("pre", True, 0, (), 51), g.DecisionFact("post", True, 0, (), 53)),
        styles=(g.StyleFact("tag", "composer:mara lindqvist", (g.StyleWork("nordlys/fjord-ø", 12, "nordlys/2026",
                                                                           "mara"),)),),
        licenses={"nordlys/2026": LICENSES["nordlys/2026"]}, parties={"nordlys": PARTIES["nordlys"],
                                                                       "mara": PARTIES["mara"]},
        watermark={"alg": "com.clearcue.audio-watermark.keyed.1", "value": 123456, "ledger_index": 54},
        formats=("wav", "midi"))
    base.update(overrides)
    return g.OutputFacts(**base)


def test_streamed_training_graph_is_byte_identical_to_the_networkx_one():
    built = g.canonical(g.training_graph(MANIFEST, ROWS, LICENSES, PARTIES))
    streamed = b"".join(g.training_graph_chunks(MANIFEST, lambda: iter(ROWS), LICENSES, PARTIES))
    assert streamed == built
    summary = g.training_summary(MANIFEST, lambda: iter(ROWS), LICENSES, PARTIES)
    assert summary.digest == hashlib.sha256(built).hexdigest()
    assert (summary.works, summary.licenses, summary.parties) == (3, 2, 3)
    assert summary.links == g.training_graph(MANIFEST, ROWS, LICENSES, PARTIES).number_of_edges()


def test_canonical_form_is_sorted_node_link_json_that_networkx_reads_back():
    graph = g.output_graph(facts())
    data = g.canonical(graph)
    assert data == canonical_bytes(json.loads(data))  # keys sorted, no whitespace
    document = json.loads(data)
    assert [n["id"] for n in document["nodes"]] == sorted(n["id"] for n in document["nodes"])
    assert [(e["source"], e["target"]) for e in document["links"]] == sorted(
        (e["source"], e["target"]) for e in document["links"])
    assert g.digest(g.from_node_link(document)) == g.digest(graph)


def test_output_graph_digest_is_stable_golden_vector():
    # Pinned: any change to node ids, attributes or serialization changes every sealed manifest's digest.
    # Regenerate only with a new GRAPH_FORMAT.
    assert g.digest(g.output_graph(facts())) == GOLDEN_OUTPUT_DIGEST
    assert g.training_summary(MANIFEST, lambda: iter(ROWS), LICENSES, PARTIES).digest == GOLDEN_TRAINING_DIGEST


def test_digest_does_not_depend_on_insertion_order():
    reversed_styles = facts(decisions=tuple(reversed(facts().decisions)))
    assert g.digest(g.output_graph(reversed_styles)) == g.digest(g.output_graph(facts()))
    assert g.digest(g.training_graph(MANIFEST, list(reversed(ROWS)), LICENSES, PARTIES)) == g.digest(
        g.training_graph(MANIFEST, ROWS, LICENSES, PARTIES))


def test_any_changed_fact_changes_the_digest():
    base = g.digest(g.output_graph(facts()))
    assert g.digest(g.output_graph(facts(territory="GB"))) != base
    assert g.digest(g.output_graph(facts(decisions=(g.DecisionFact("pre", True, 1, (), 51),)))) != base


def test_unordered_or_unknown_rows_are_refused():
    with pytest.raises(g.GraphError) as unordered:
        b"".join(g.training_graph_chunks(MANIFEST, lambda: iter(list(reversed(ROWS))), LICENSES, PARTIES))
    assert unordered.value.code == "graph_rows_unordered"
    with pytest.raises(g.GraphError) as unknown:
        g.training_graph(MANIFEST, ROWS, {"pd:public-domain": LICENSES["pd:public-domain"]}, PARTIES)
    assert unknown.value.code == "graph_unknown_license"


def _leaf(row: g.TrainingRow) -> bytes:
    return merkle.leaf_hash(canonical_bytes({"basis": row.basis, "license": row.license, "sha256": row.sha256,
                                             "work": row.work}))


def test_a_fetched_training_graph_is_checked_against_digest_and_merkle_root():
    data = b"".join(g.training_graph_chunks(MANIFEST, lambda: iter(ROWS), LICENSES, PARTIES))
    summary = g.training_summary(MANIFEST, lambda: iter(ROWS), LICENSES, PARTIES).to_json()
    root = tree_hash([_leaf(r) for r in ROWS]).hex()
    graph = g.check_training_graph(data, summary, root, _leaf, tree_hash)
    assert g.counts(graph)["work"] == 3
    with pytest.raises(g.GraphError) as wrong_root:
        g.check_training_graph(data, summary, "00" * 32, _leaf, tree_hash)
    assert wrong_root.value.code == "graph_root_mismatch"
    tampered = data.replace(b"Mara Lindqvist", b"Mara Lindkvist")
    with pytest.raises(g.GraphError) as wrong_digest:
        g.check_training_graph(tampered, summary, root, _leaf, tree_hash)
    assert wrong_digest.value.code == "graph_digest_mismatch"


def test_dependencies_and_dependents_follow_the_chain():
    output = g.output_graph(facts())
    whole = g.combined(output, g.training_graph(MANIFEST, ROWS, LICENSES, PARTIES))
    deps = g.dependencies(whole, g.output_id("studio-a/cue-1"))
    assert deps["license"] == ["license:nordlys/2026", "license:pd:public-domain"]
    assert set(deps["party"]) == {"party:mara", "party:nordlys", "party:public-domain"}
    assert deps["gate_decision"] == ["decision:studio-a/cue-1/post", "decision:studio-a/cue-1/pre"]
    assert g.dependents(whole, "party:mara", of_type="output") == ["output:studio-a/cue-1"]
    assert g.dependents(whole, "license:pd:public-domain", of_type="model") == ["model:cue@1"]


def test_manifest_assertion_carries_digest_counts_root_and_only_the_style_subgraph():
    output = g.output_graph(facts())
    assertion = g.manifest_assertion(output)
    assert assertion["digest"] == g.digest(output)
    assert assertion["training_manifest"]["merkle_root"] == MANIFEST.merkle_root
    assert assertion["training_manifest"]["training_graph"]["digest"] == "dd" * 32
    ids = {n["id"] for n in assertion["style_subgraph"]["nodes"]}
    assert ids == {"style:tag:composer:mara lindqvist", "work:nordlys/fjord-ø", "license:nordlys/2026",
                   "party:nordlys", "party:mara"}
    canonical_bytes(assertion)  # integers and strings only


def test_style_references_list_at_most_the_limit_but_count_and_digest_all():
    works = tuple(g.StyleWork(f"c/w{i:04d}", i) for i in range(g.STYLE_WORK_LIMIT + 20))
    graph = g.output_graph(facts(styles=(g.StyleFact("tag", "period:baroque", works),), licenses={}, parties={}))
    node = graph.nodes["style:tag:period:baroque"]
    assert (node["works"], node["listed"]) == (g.STYLE_WORK_LIMIT + 20, g.STYLE_WORK_LIMIT)
    assert node["works_digest"] == hashlib.sha256(b"".join(f"{w.work}\n".encode() for w in works)).hexdigest()


GOLDEN_OUTPUT_DIGEST = "e2894d98dce46a06ddd300fc6ede207fa280d9f56e4840861840632d0546e7f6"
GOLDEN_TRAINING_DIGEST = "7dfce363c816a014986d2bef8b42ecc633622259737e02c2d588d0e1f19db917"
