"""Style attribution: features, the IVF index, rounding to ppm, and the attribution record (pure, no database)."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from licensing.canonical import canonical_bytes
from provenance import attribution
from provenance.attribution import (
    METHOD,
    PPM,
    UNATTRIBUTED,
    Attribution,
    AttributionIndex,
    Contribution,
    FeatureError,
    IndexFormatError,
    apportion,
    attribute,
    melody_features,
    work_features,
)

ROOT = Path(__file__).resolve().parents[2]

# Small melodies in C, (onset, duration, pitch) in 16ths.
SCALE_UP = [(i * 4, 4, p) for i, p in enumerate((60, 62, 64, 65, 67, 69, 71, 72))]
ARPEGGIO = [(i * 2, 2, p) for i, p in enumerate((60, 64, 67, 72, 67, 64, 60, 55, 60, 64, 67, 72))]
MINOR_LINE = [(i * 4, 4 if i % 3 else 8, p) for i, p in enumerate((60, 63, 62, 60, 58, 60, 67, 65, 63, 62, 60))]
JIG = [(i * 2, 2, p) for i, p in enumerate((67, 64, 67, 72, 67, 64, 65, 62, 65, 71, 67, 62, 60, 64, 67, 60))]
LONG_NOTES = [(i * 16, 16, p) for i, p in enumerate((60, 65, 64, 62, 60, 59, 60))]
CHROMATIC = [(i * 2, 2, 60 + i) for i in range(13)]
MELODIES = {"scale": (SCALE_UP, 4), "arpeggio": (ARPEGGIO, 4), "minor": (MINOR_LINE, 3), "jig": (JIG, 3),
            "long": (LONG_NOTES, 4), "chromatic": (CHROMATIC, 2)}


def clustered(n, seed=0, dim=attribution.DIMENSIONS, spread=0.15):
    """n unit vectors around sqrt(n) random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(1, int(n**0.5)), dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    points = centres[rng.integers(len(centres), size=n)] + rng.normal(scale=spread, size=(n, dim))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def small_index():
    """One work per melody above, keyed by name."""
    keys = sorted(MELODIES)
    return AttributionIndex.build(keys, np.stack([work_features([MELODIES[k]]) for k in keys]))


@pytest.fixture(scope="module")
def random_index():
    keys = [f"work-{i:05d}" for i in range(3000)]
    return AttributionIndex.build(keys, clustered(3000, seed=1), seed=0)


# ---------------------------------------------------------------------------------------------------
# Features


def test_features_are_a_fixed_dimension_float32_unit_vector():
    vector = melody_features(ARPEGGIO, 4)
    assert vector.dtype == np.float32
    assert vector.shape == (attribution.DIMENSIONS,)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-6
    assert attribution.DIMENSIONS == sum(attribution.BLOCK_SIZES.values())


def test_an_identical_melody_has_identical_features_and_similarity_one():
    assert np.array_equal(melody_features(JIG, 3), melody_features(list(JIG), 3))
    index = small_index()
    row = index.keys.index("jig")
    assert index.search(melody_features(JIG, 3), 1) == [(row, pytest.approx(1.0, abs=1e-6))]


def test_features_ignore_octave_transposition_time_shift_and_json_lists():
    octave_up = [(o, d, p + 12) for o, d, p in JIG]
    two_bars_later = [(o + 2 * 12, d, p) for o, d, p in JIG]
    as_json = [[o, d, p] for o, d, p in JIG]
    reference = melody_features(JIG, 3)
    for variant in (octave_up, two_bars_later, as_json):
        assert np.allclose(melody_features(variant, 3), reference, atol=1e-7)


def test_a_transposition_by_a_fifth_changes_only_the_pitch_class_block():
    fifth_up = [(o, d, p + 7) for o, d, p in MINOR_LINE]
    a = attribution.feature_blocks([(MINOR_LINE, 3)])
    b = attribution.feature_blocks([(fifth_up, 3)])
    assert not np.allclose(a["pitch_class"], b["pitch_class"])
    for name in ("interval", "duration", "contour", "metric_position", "density"):
        assert np.allclose(a[name], b[name])
    similarity = float(melody_features(MINOR_LINE, 3) @ melody_features(fifth_up, 3))
    assert 0.5 < similarity < 0.99


def test_feature_blocks_are_smoothed_distributions():
    for histogram in attribution.feature_blocks([(SCALE_UP, 4)]).values():
        assert abs(histogram.sum() - 1.0) < 1e-9
        assert (histogram > 0).all()  # the prior fills every bin


def test_work_features_pool_the_counts_of_all_melodies():
    pooled = work_features([(JIG, 3), (SCALE_UP, 4)])
    assert not np.allclose(pooled, melody_features(JIG, 3))
    assert np.allclose(pooled, work_features([(SCALE_UP, 4), (JIG, 3)]))  # order does not matter


def test_a_melody_or_work_without_notes_raises_a_typed_error():
    with pytest.raises(FeatureError) as caught:
        melody_features([], 4)
    assert caught.value.code == "attribution_no_melody"
    with pytest.raises(FeatureError):
        work_features([])
    with pytest.raises(FeatureError):
        work_features([([], 3), ([], 4)])


# ---------------------------------------------------------------------------------------------------
# Index


def test_small_indexes_search_exactly_without_lists():
    index = small_index()
    assert index.lists == 0
    assert len(index) == len(MELODIES)


def test_large_indexes_use_about_sqrt_n_lists(random_index):
    assert random_index.lists == round(3000**0.5)


def test_ivf_recall_at_10_is_at_least_0_9_at_the_default_nprobe_and_full_probe_is_exact():
    vectors = clustered(10_000, seed=2)
    keys = [f"w{i}" for i in range(len(vectors))]
    index = AttributionIndex.build(keys, vectors, seed=0)
    exact = AttributionIndex.build(keys, vectors, lists=0)
    assert index.lists == 100
    queries = clustered(40, seed=3)
    recalls = []
    for query in queries:
        truth = exact.search(query, 10)
        found = index.search(query, 10, attribution.DEFAULT_NPROBE)
        recalls.append(len({r for r, _ in truth} & {r for r, _ in found}) / 10)
        assert index.search(query, 10, index.lists) == truth  # probing every list is an exact search
    assert np.mean(recalls) >= 0.9


def test_search_is_best_first_with_ties_broken_by_row():
    vectors = np.asarray([[1.0, 0.0], [0.6, 0.8], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    index = AttributionIndex.build(["a", "b", "c", "d", "e"], vectors)
    assert [row for row, _ in index.search([1.0, 0.0], 4)] == [0, 2, 4, 1]
    assert [row for row, _ in index.search([1.0, 0.0], 2)] == [0, 2]  # a tie at the cut goes to the lower row


def test_search_returns_every_row_when_k_exceeds_n_and_nothing_for_k_zero():
    index = small_index()
    assert len(index.search(melody_features(JIG, 3), 100)) == len(MELODIES)
    assert index.search(melody_features(JIG, 3), 0) == []


def test_similarities_are_exact_cosines_in_the_order_given(random_index):
    query = clustered(1, seed=9)[0]
    rows = [2999, 0, 17]
    expected = [float(random_index.vector(r).astype(np.float64) @ query.astype(np.float64)) for r in rows]
    assert random_index.similarities(query, rows) == pytest.approx(expected, abs=1e-6)
    with pytest.raises(IndexError):
        random_index.similarities(query, [3000])


def test_the_same_vectors_and_seed_build_the_same_index(random_index):
    keys = [f"work-{i:05d}" for i in range(3000)]
    again = AttributionIndex.build(keys, clustered(3000, seed=1), seed=0)
    assert again.to_bytes() == random_index.to_bytes()


def test_build_refuses_bad_input():
    with pytest.raises(ValueError, match="unique"):
        AttributionIndex.build(["a", "a"], np.eye(2))
    with pytest.raises(ValueError, match="keys for"):
        AttributionIndex.build(["a"], np.eye(2))
    with pytest.raises(ValueError, match="zero vector"):
        AttributionIndex.build(["a", "b"], [[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="finite"):
        AttributionIndex.build(["a"], [[np.nan, 1.0]])
    with pytest.raises(ValueError, match="dimensions"):
        small_index().search(np.ones(3), 1)


def test_an_index_survives_a_round_trip_through_bytes(random_index):
    loaded = AttributionIndex.from_bytes(random_index.to_bytes())
    assert loaded.keys == random_index.keys
    assert loaded.lists == random_index.lists
    query = clustered(1, seed=5)[0]
    assert loaded.search(query, 20) == random_index.search(query, 20)
    assert attribute(loaded, query).digest() == attribute(random_index, query).digest()
    small = small_index()
    assert AttributionIndex.from_bytes(small.to_bytes()).search(melody_features(JIG, 3), 3) == small.search(
        melody_features(JIG, 3), 3)


def test_loading_refuses_garbage_and_pickled_objects():
    with pytest.raises(IndexFormatError):
        AttributionIndex.from_bytes(b"not an index")
    buffer = io.BytesIO()
    np.savez(buffer, format=np.asarray(attribution.INDEX_FORMAT), keys=np.asarray([{"evil": 1}], dtype=object))
    with pytest.raises(IndexFormatError):
        AttributionIndex.from_bytes(buffer.getvalue())
    buffer = io.BytesIO()
    np.savez(buffer, format=np.asarray("something.else"))
    with pytest.raises(IndexFormatError):
        AttributionIndex.from_bytes(buffer.getvalue())


# ---------------------------------------------------------------------------------------------------
# Rounding


def test_apportion_sums_exactly_with_largest_remainders():
    assert apportion([1, 1, 1], 10) == [4, 3, 3]  # the tie goes to the earlier weight
    assert apportion([0.5, 0.25, 0.25], 7) == [3, 2, 2]  # quotas 3.5, 1.75, 1.75
    assert apportion([2, 0, 1]) == [666_667, 0, 333_333]
    rng = np.random.default_rng(0)
    for _ in range(200):
        weights = rng.random(int(rng.integers(1, 80))) ** 4
        parts = apportion(list(weights))
        assert sum(parts) == PPM and min(parts) >= 0


def test_apportion_splits_all_zero_weights_evenly_and_refuses_bad_weights():
    assert apportion([0.0, 0.0, 0.0], 10) == [4, 3, 3]
    assert apportion([0.0]) == [PPM]
    for bad in ([], [-1.0, 2.0], [float("nan")], [float("inf"), 1.0]):
        with pytest.raises(ValueError):
            apportion(bad)


# ---------------------------------------------------------------------------------------------------
# Attribution


def test_shares_always_sum_to_exactly_one_million(random_index):
    rng = np.random.default_rng(4)
    for i, query in enumerate(clustered(30, seed=6)):
        style = rng.choice(3000, size=int(rng.integers(0, 200)), replace=False).tolist()
        result = attribute(random_index, query, style_rows=style, k=int(rng.integers(1, 100)),
                           temperature=float(rng.choice([0.001, 0.008, 0.1])), style_weight=(i % 5) / 4)
        assert sum(c.ppm for c in result.contributions) == PPM
        assert all(c.ppm > 0 for c in result.contributions)
        order = [(-c.ppm, c.work) for c in result.contributions]
        assert order == sorted(order)


def test_attribution_is_deterministic(random_index):
    query = clustered(1, seed=7)[0]
    first = attribute(random_index, query, style_rows=range(0, 3000, 7))
    again = attribute(AttributionIndex.from_bytes(random_index.to_bytes()), query.copy(),
                      style_rows=list(reversed(range(0, 3000, 7))))
    assert first == again
    assert first.digest() == again.digest()


def test_a_fixed_attribution_record_has_a_fixed_digest():
    record = Attribution(METHOD, {"k": 2, "note": "golden"}, (
        Contribution("music21-corpus/bach/bwv1.6.mxl", 600_000, 912_345, True),
        Contribution("music21-corpus/essenFolksong/erk5.abc", 400_000, 934_001, False)))
    assert record.to_json()["contributions"][0] == {
        "work": "music21-corpus/bach/bwv1.6.mxl", "ppm": 600_000, "similarity_micro": 912_345, "style_reference": True}
    assert canonical_bytes(record.to_json()) == (
        b'{"contributions":[{"ppm":600000,"similarity_micro":912345,"style_reference":true,'
        b'"work":"music21-corpus/bach/bwv1.6.mxl"},{"ppm":400000,"similarity_micro":934001,'
        b'"style_reference":false,"work":"music21-corpus/essenFolksong/erk5.abc"}],'
        b'"method":"clearcue.attribution.symbolic-knn.v1","params":{"k":2,"note":"golden"}}')
    assert record.digest() == "c027f04a1add18db1e06a6013a5f4619ce1c2ecb0dc83baf0fda58422ae91100"


def test_the_method_gives_a_fixed_attribution_for_a_fixed_input():
    # Golden: a change here is a change of the method (features, constants, weighting or rounding): bump METHOD.
    result = attribute(small_index(), melody_features([*ARPEGGIO[:10], (20, 2, 65), (22, 2, 62)], 4),
                       style_rows=[small_index().keys.index("long")])
    assert [(c.work, c.ppm, c.similarity_micro, c.style_reference) for c in result.contributions] == [
        ("long", 500_000, 744_562, True),  # the requested style: half by the style weight, ~0 by resemblance
        ("arpeggio", 494_693, 982_425, False),
        ("jig", 5_307, 946_146, False),
    ]
    assert result.digest() == "f3c2346df85af485c78fe02e498c85df4735cde28b95edad76bb344a95a8b56a"


def test_the_record_round_trips_through_json_and_refuses_bad_sums():
    result = attribute(small_index(), melody_features(JIG, 3))
    assert Attribution.from_json(result.to_json()) == result
    broken = result.to_json()
    broken["contributions"][0]["ppm"] += 1
    with pytest.raises(ValueError):
        Attribution.from_json(broken)


def test_the_record_is_canonical_json_with_integers_only():
    from licensing.canonical import parse

    result = attribute(small_index(), melody_features(MINOR_LINE, 3), style_rows=[0])
    assert parse(canonical_bytes(result.to_json())) == result.to_json()
    assert all(isinstance(v, int | str) for v in result.params.values())
    assert result.method == METHOD == "clearcue.attribution.symbolic-knn.v1"


def test_a_single_work_gets_everything():
    index = AttributionIndex.build(["only"], [work_features([(JIG, 3)])])
    result = attribute(index, melody_features(SCALE_UP, 4), k=10)
    assert [(c.work, c.ppm) for c in result.contributions] == [("only", PPM)]


def test_k_larger_than_the_index_and_empty_style_rows_are_fine():
    index = small_index()
    plain = attribute(index, melody_features(JIG, 3), k=1000)
    assert sum(c.ppm for c in plain.contributions) == PPM
    assert not any(c.style_reference for c in plain.contributions)
    assert attribute(index, melody_features(JIG, 3), k=1000, style_rows=[]) == plain


def test_requested_style_works_receive_at_least_the_style_weight():
    index = small_index()
    query = melody_features(JIG, 3)
    style = [index.keys.index("long"), index.keys.index("chromatic")]
    weighted = attribute(index, query, style_rows=style, style_weight=0.5)
    share = sum(c.ppm for c in weighted.contributions if c.style_reference)
    assert share >= PPM // 2
    flagged = {c.work for c in weighted.contributions if c.style_reference}
    assert flagged <= {"long", "chromatic"} and flagged
    plain = attribute(index, query)
    assert share > sum(c.ppm for c in plain.contributions if c.work in ("long", "chromatic"))
    # Weight zero: the style rows are flagged but the shares are pure similarity.
    unweighted = attribute(index, query, style_rows=style, style_weight=0.0)
    assert [(c.work, c.ppm) for c in unweighted.contributions] == [(c.work, c.ppm) for c in plain.contributions]


def test_style_works_outside_the_neighbours_join_the_candidates(random_index):
    query = clustered(1, seed=8)[0]
    near = {row for row, _ in random_index.search(query, 5)}
    far = [row for row, _ in random_index.search(-query, 3)]  # the least similar works
    result = attribute(random_index, query, k=5, style_rows=far, style_k=2)
    works = {c.work for c in result.contributions}
    assert {random_index.keys[r] for r in far[:2]} & works
    assert {random_index.keys[r] for r in near} <= works
    assert len(result.contributions) <= 5 + 2


def test_a_lower_temperature_concentrates_the_shares(random_index):
    query = clustered(1, seed=10)[0]
    sharp = attribute(random_index, query, temperature=0.001)
    flat = attribute(random_index, query, temperature=0.1)
    assert sharp.contributions[0].ppm > flat.contributions[0].ppm


def test_attribute_refuses_bad_parameters():
    index = small_index()
    query = melody_features(JIG, 3)
    for kwargs in ({"k": 0}, {"nprobe": 0}, {"temperature": 0.0}, {"style_weight": 1.5}, {"style_k": -1}):
        with pytest.raises(ValueError):
            attribute(index, query, **kwargs)


def test_top_and_holder_aggregation():
    index = small_index()
    result = attribute(index, melody_features(ARPEGGIO, 4), k=6, temperature=0.1)  # every work gets a share
    assert len(result.contributions) == 6
    assert result.top(2) == result.contributions[:2]
    holders = {"scale": "Holder A", "arpeggio": "Holder A", "jig": "Holder B"}
    totals = result.by_holder(holders)
    assert sum(ppm for _, ppm in totals) == PPM
    assert [name for name, _ in totals].count(UNATTRIBUTED) == 1  # long, minor, chromatic have no holder
    expected_a = sum(c.ppm for c in result.contributions if c.work in ("scale", "arpeggio"))
    assert dict(totals)["Holder A"] == expected_a
    assert [(-ppm, name) for name, ppm in totals] == sorted((-ppm, name) for name, ppm in totals)
    assert result.by_holder({}) == [(UNATTRIBUTED, PPM)]


def test_the_module_imports_neither_django_nor_torch():
    code = ("import sys; import provenance.attribution; "
            "print(sorted(m for m in ('django', 'torch', 'music21') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
