"""Musical statistics, the Markov baseline and the memorization index (pure: numpy and music21 only)."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import music21
import numpy as np
import pytest

from generation.engines.reference import corpus, metrics
from generation.engines.reference.metrics import (
    MarkovBaseline,
    MemorizationIndex,
    SharedRun,
    distance,
    events_of,
    key_estimate,
)

M21: Any = music21  # music21's own annotations are partial: the tests use it untyped
CORPUS = Path(music21.__path__[0]) / "corpus"
MAJOR = (0, 2, 4, 5, 7, 9, 11)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)


@dataclass(frozen=True)
class Tune:
    """A melody for the statistics: notes and meter, like corpus.Melody."""

    notes: tuple[tuple[int, int, int], ...]
    meter: int = 4
    mode: str = "major"


def scale_tune(tonic: int, degrees: tuple[int, ...]) -> list[tuple[int, float]]:
    """(pitch, weight) of a scale up and down with the tonic triad held longest, as K-S input."""
    weights = {0: 4.0, 2: 1.0, 3: 2.0, 4: 2.0, 5: 1.0, 7: 3.0, 8: 1.0, 9: 1.0, 11: 1.0}
    return [(60 + tonic + degree, weights[degree]) for degree in degrees]


@pytest.fixture(scope="module")
def folk() -> list[corpus.Melody]:
    """A few hundred real melodies: O'Neill's first 200 tunes."""
    melodies: list[corpus.Melody] = []
    for name in ("0001-0050.abc", "0051-0100.abc", "0101-0200.abc"):
        path = CORPUS / "oneills1850" / name
        melodies.extend(corpus.melodies_from_bytes(path.read_bytes(), f"oneills1850/{name}"))
    return melodies


# ---------------------------------------------------------------------------------------------------
# Keys


@pytest.mark.parametrize("tonic", range(12))
def test_key_estimate_recovers_every_major_and_harmonic_minor_scale(tonic: int) -> None:
    assert key_estimate(scale_tune(tonic, MAJOR))[:2] == (tonic, "major")
    assert key_estimate(scale_tune(tonic, HARMONIC_MINOR))[:2] == (tonic, "minor")


@pytest.mark.parametrize(
    ("relative", "expected"),
    [("bach/bwv10.7.mxl", (7, "minor")), ("bach/bwv1.6.mxl", (5, "major")), ("bach/bwv26.6.mxl", (9, "minor")),
     ("bach/bwv66.6.mxl", (6, "minor")), ("mozart/k545/movement1_exposition.mxl", (0, "major"))],
)
def test_key_estimate_recovers_the_notated_key_of_known_pieces(relative: str, expected: tuple[int, str]) -> None:
    path = CORPUS / relative
    if not path.exists():
        pytest.skip(f"{relative} is not in this music21")
    score: Any = M21.converter.parse(path, forceSource=True)
    pitches = [(round(n.pitch.ps), float(n.quarterLength)) for n in score.flatten().notes if hasattr(n, "pitch")]
    tonic, mode, correlation = key_estimate(pitches)
    assert (tonic, mode) == expected
    assert correlation > 0.7


def test_key_estimate_of_nothing_is_c_major_with_no_correlation() -> None:
    assert key_estimate([]) == (0, "major", 0.0)
    assert key_estimate([(pc, 1.0) for pc in range(12)]) == (0, "major", 0.0)  # flat: no key better


def test_key_correlations_are_pearson_coefficients() -> None:
    hist = np.random.default_rng(3).random(12)
    corr = metrics.key_correlations(hist)
    expected = np.corrcoef(hist, np.roll(metrics.KK_MINOR, 4))[0, 1]
    assert corr[1, 4] == pytest.approx(expected)
    assert corr.shape == (2, 12)


# ---------------------------------------------------------------------------------------------------
# Histograms and distance


def test_histograms_are_normalized_and_count_what_they_say(folk: list[corpus.Melody]) -> None:
    tune = Tune(notes=((0, 4, 60), (4, 2, 64), (6, 2, 67), (8, 8, 60), (16, 4, 84)))
    pcs = metrics.pitch_class_histogram([tune])
    assert pcs[0] == pytest.approx(16 / 20) and pcs[4] == pytest.approx(2 / 20)
    intervals = metrics.interval_histogram([tune])
    assert intervals.shape == (25,)
    assert intervals[12 + 4] == intervals[12 + 3] == intervals[12 - 7] == intervals[12 + 12] == pytest.approx(0.25)
    durations = metrics.duration_histogram([tune])
    assert durations.shape == (16,) and durations[3] == pytest.approx(0.4)  # two quarter notes of five
    assert metrics.notes_per_bar(tune) == [4, 1]
    assert metrics.rhythm_density([tune]) == 2.5
    per_bar = metrics.notes_per_bar_histogram([tune])
    assert per_bar.shape == (17,) and per_bar[4] == per_bar[1] == 0.5
    for histogram in (metrics.pitch_class_histogram(folk), metrics.interval_histogram(folk),
                      metrics.duration_histogram(folk), metrics.notes_per_bar_histogram(folk)):
        assert histogram.sum() == pytest.approx(1.0)
        assert (histogram >= 0).all()


def test_melodies_in_c_weigh_the_tonic_triad_most(folk: list[corpus.Melody]) -> None:
    pcs = metrics.pitch_class_histogram(folk)
    assert set(np.argsort(pcs)[-3:]) <= {0, 2, 4, 7}  # C, E, G (and D, common in reels) lead


def test_js_distance_is_zero_for_identical_symmetric_bounded_and_positive_otherwise() -> None:
    p = np.array([0.5, 0.25, 0.25, 0.0])
    q = np.array([0.1, 0.2, 0.3, 0.4])
    assert distance(p, p) == 0.0
    assert distance(p * 7, p) == 0.0  # normalized first
    assert distance(p, q) == pytest.approx(distance(q, p))
    assert 0.0 < distance(p, q) < 1.0
    assert distance([1, 0], [0, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        distance([1, 0], [1, 0, 0])
    with pytest.raises(ValueError):
        distance([0, 0], [1, 0])


def test_corpus_statistics_hold_everything_and_serialize(folk: list[corpus.Melody]) -> None:
    stats = metrics.corpus_statistics(folk)
    assert stats["melodies"] == len(folk)
    assert stats["notes"] == sum(len(m.notes) for m in folk)
    modes: Any = stats["modes"]
    meters: Any = stats["meters"]
    density: Any = stats["rhythm_density"]
    assert set(modes) == {"major", "minor"}
    assert set(meters) <= {"2", "3", "4"}
    assert 2.0 < density < 12.0
    assert json.loads(json.dumps(stats)) == stats


# ---------------------------------------------------------------------------------------------------
# Events and the Markov baseline


def test_events_are_intervals_and_durations_from_the_second_note() -> None:
    assert events_of([(0, 4, 60), (4, 2, 64), (8, 2, 62)]) == [(4, 2), (-2, 2)]
    assert events_of([(0, 4, 60)]) == []


def test_markov_baseline_is_deterministic_for_a_seed_and_fills_the_bars(folk: list[corpus.Melody]) -> None:
    baseline = MarkovBaseline().fit(folk)
    first = baseline.sample(16, 4, np.random.default_rng(7))
    again = baseline.sample(16, 4, np.random.default_rng(7))
    other = baseline.sample(16, 4, np.random.default_rng(8))
    assert first == again
    assert first != other
    assert first[0][0] == 0
    for (onset, duration, _), (next_onset, _, _) in itertools.pairwise(first):
        assert onset + duration == next_onset  # back to back
    assert first[-1][0] + first[-1][1] == 16 * 4 * 4
    low, high = baseline.pitch_range
    assert all(low <= pitch <= high for _, _, pitch in first)


def test_markov_samples_sound_like_the_training_set_and_unlike_noise(folk: list[corpus.Melody]) -> None:
    baseline = MarkovBaseline().fit(folk)
    rng = np.random.default_rng(11)
    samples = [Tune(baseline.sample(16, 4, rng)) for _ in range(60)]
    rand = np.random.default_rng(12)
    noise = [Tune(tuple((4 * i, 4, int(p)) for i, p in enumerate(rand.integers(55, 80, size=64))))
             for _ in range(60)]
    # What the chain models (intervals, durations, hence notes per bar) it reproduces; pitch classes it
    # does not: with no memory of the tonic its walk drifts out of key, which a trained model must beat.
    for histogram, bound in ((metrics.interval_histogram, 0.03), (metrics.duration_histogram, 0.03),
                             (metrics.notes_per_bar_histogram, 0.1)):
        to_samples = distance(histogram(folk), histogram(samples))
        assert to_samples < bound, histogram.__name__
        assert to_samples < distance(histogram(folk), histogram(noise)) / 4, histogram.__name__


def test_markov_baseline_refuses_to_sample_unfitted_or_fit_on_nothing() -> None:
    with pytest.raises(ValueError, match="fit"):
        MarkovBaseline().sample(4, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one"):
        MarkovBaseline().fit([Tune(())])


# ---------------------------------------------------------------------------------------------------
# Piece by piece


def test_overlap_area_is_one_for_one_sample_zero_for_disjoint_and_refuses_nonsense() -> None:
    rng = np.random.default_rng(0)
    x = rng.random(20000)
    assert metrics.overlap_area(x, x) == pytest.approx(1.0)
    assert metrics.overlap_area(x, x + 10.0) == 0.0
    # Two draws of one distribution overlap almost fully; a shifted one by about what the shift leaves.
    assert metrics.overlap_area(x, rng.random(20000)) > 0.9
    assert metrics.overlap_area(x, rng.random(20000) + 0.5) == pytest.approx(0.5, abs=0.06)
    assert metrics.overlap_area([0.0, 0.0], [0.0]) == 1.0
    for bad in (([], [1.0]), ([-1.0], [1.0]), (np.ones((2, 2)), [1.0])):
        with pytest.raises(ValueError):
            metrics.overlap_area(*bad)


def test_piece_counts_add_up_to_the_pooled_histograms(folk: list[corpus.Melody]) -> None:
    some = folk[:40]
    counts = metrics.piece_counts(some)
    features = metrics.piece_features(some)
    pooled = {"pitch_class": metrics.pitch_class_histogram(some), "interval": metrics.interval_histogram(some),
              "duration": metrics.duration_histogram(some), "notes_per_bar": metrics.notes_per_bar_histogram(some)}
    for name in metrics.PIECE_FEATURES:
        assert counts[name].shape == features[name].shape == (40, len(pooled[name]))
        total = counts[name].sum(axis=0)
        np.testing.assert_allclose(total / total.sum(), pooled[name], atol=1e-12)
    assert counts["duration"][0].sum() == len(some[0].notes)
    assert counts["interval"][0].sum() == len(some[0].notes) - 1


def test_set_overlap_tells_real_pieces_from_a_chain_whose_pooled_histograms_match(folk: list[corpus.Melody]) -> None:
    reference, held_out = folk[::2], folk[1::2]
    baseline = MarkovBaseline().fit(reference)
    rng = np.random.default_rng(5)
    chain = [Tune(baseline.sample(len(metrics.notes_per_bar(m)), m.meter, rng), m.meter) for m in held_out]
    # Pooled, the chain's intervals and durations are about as close to the reference as real tunes are...
    for histogram in (metrics.interval_histogram, metrics.duration_histogram):
        assert distance(histogram(reference), histogram(chain)) < 0.03
    real = metrics.set_overlap(held_out, reference)
    markov = metrics.set_overlap(chain, reference)
    assert set(real) == set(metrics.PIECE_FEATURES)
    # ...but tune by tune real melodies resemble the reference the way its own tunes resemble each other,
    # and the chain's walks (all alike, with no memory of the key) do not.
    for name in metrics.PIECE_FEATURES:
        assert real[name] > 0.85, name
        assert markov[name] < real[name] - 0.05, name
    # One tune repeated is the extreme of sameness: its distances are one row of the reference's own.
    assert metrics.set_overlap([reference[0]] * 5, reference)["interval"] < real["interval"] - 0.1
    with pytest.raises(ValueError, match="reference"):
        metrics.set_overlap(held_out, reference[:1])


def test_paired_bootstrap_counts_how_often_one_set_stays_closer(folk: list[corpus.Melody]) -> None:
    reference = folk[::2]
    pooled = {"pitch_class": metrics.pitch_class_histogram(reference),
              "interval": metrics.interval_histogram(reference), "duration": metrics.duration_histogram(reference),
              "notes_per_bar": metrics.notes_per_bar_histogram(reference)}
    real = folk[1::2][:60]
    rand = np.random.default_rng(12)
    noise = [Tune(tuple((2 * i, 2, int(p)) for i, p in enumerate(rand.integers(55, 80, size=48)))) for _ in range(60)]
    density = metrics.rhythm_density(reference)
    real_counts, noise_counts = metrics.piece_counts(real), metrics.piece_counts(noise)
    share = metrics.paired_bootstrap(pooled, real_counts, noise_counts, density=density, resamples=200)
    assert share == {name: 1.0 for name in (*metrics.PIECE_FEATURES, "density")}
    reverse = metrics.paired_bootstrap(pooled, noise_counts, real_counts, density=density, resamples=200)
    assert set(reverse.values()) == {0.0}
    # A set against itself never wins (ties go to the second set), and the draws are seeded.
    assert set(metrics.paired_bootstrap(pooled, real_counts, real_counts, resamples=50).values()) == {0.0}
    half = metrics.piece_counts(reference[:60])
    assert (metrics.paired_bootstrap(pooled, real_counts, half, resamples=100, seed=3)
            == metrics.paired_bootstrap(pooled, real_counts, half, resamples=100, seed=3))
    with pytest.raises(ValueError, match="paired"):
        metrics.paired_bootstrap(pooled, real_counts, metrics.piece_counts(noise[:10]))


# ---------------------------------------------------------------------------------------------------
# Memorization


def brute_force_longest_run(training: list[tuple[str, int, list[tuple[int, int]]]],
                            query: list[tuple[int, int]]) -> SharedRun:
    """Reference: compare the query with every training melody; same tie rules as the index."""
    best = 0
    best_end = -1
    for _, _, events in training:
        for end in range(len(query)):
            for other_end in range(len(events)):
                length = 0
                while (length <= min(end, other_end)
                       and query[end - length] == events[other_end - length]):
                    length += 1
                if length > best or (length == best and length > 0 and end < best_end):
                    best, best_end = length, end
    if best == 0:
        return SharedRun(0, "", -1)
    run = query[best_end - best + 1:best_end + 1]
    for source, index, events in training:
        if any(events[i:i + best] == run for i in range(len(events) - best + 1)):
            return SharedRun(best, source, index)
    raise AssertionError("unreachable")


def test_planted_copy_is_found_with_its_length_and_source(folk: list[corpus.Melody]) -> None:
    training = [(m.source, m.index, events_of(m.notes)) for m in folk]
    index = MemorizationIndex(training)
    assert index.events == sum(len(events) for _, _, events in training)
    victim = folk[37]
    copied = events_of(victim.notes)[5:45]
    rng = random.Random(5)
    # Padding no training melody has (13-semitone leaps), so the copy cannot be extended by chance.
    query = [(13, rng.choice((1, 3))) for _ in range(30)] + copied + [(-13, 5) for _ in range(30)]
    run = index.longest_shared_run(query)
    assert run.length == 40
    # The copy may also occur in an earlier tune (folk tunes share phrases); then that one is named.
    owner = next(t for t in training if any(t[2][i:i + 40] == copied for i in range(len(t[2]))))
    assert (run.source, run.melody_index) == (owner[0], owner[1])
    assert run == brute_force_longest_run(training, query)


def test_random_query_shares_only_a_short_run(folk: list[corpus.Melody]) -> None:
    index = MemorizationIndex((m.source, m.index, events_of(m.notes)) for m in folk)
    rng = np.random.default_rng(21)
    vocabulary = sorted({event for m in folk for event in events_of(m.notes)})
    picks = rng.integers(0, len(vocabulary), size=300)
    run = index.longest_shared_run([vocabulary[i] for i in picks])
    assert 1 <= run.length <= 6


def test_index_agrees_with_brute_force_on_random_small_cases() -> None:
    rng = random.Random(1234)
    for _ in range(300):
        alphabet = [(rng.randint(-2, 2), rng.choice((1, 2))) for _ in range(rng.randint(1, 4))]
        training = [
            (f"work{w}.abc", rng.randint(0, 3), [rng.choice(alphabet) for _ in range(rng.randint(0, 12))])
            for w in range(rng.randint(1, 5))
        ]
        query = [rng.choice([*alphabet, (9, 9)]) for _ in range(rng.randint(0, 15))]
        assert MemorizationIndex(training).longest_shared_run(query) == brute_force_longest_run(training, query)


def test_runs_never_span_two_training_melodies() -> None:
    index = MemorizationIndex([("a.abc", 0, [(1, 1), (2, 2)]), ("b.abc", 0, [(3, 3), (4, 4)])])
    assert index.longest_shared_run([(1, 1), (2, 2), (3, 3), (4, 4)]) == SharedRun(2, "a.abc", 0)
    assert index.longest_shared_run([(2, 2), (3, 3)]) == SharedRun(1, "a.abc", 0)
    assert index.longest_shared_run([]) == SharedRun(0, "", -1)
    assert index.longest_shared_run([(7, 7)]) == SharedRun(0, "", -1)


def test_index_scales_to_a_hundred_thousand_events_with_fast_queries() -> None:
    import time

    rng = np.random.default_rng(0)
    training = [(f"w{i}", 0, [(int(a), int(b)) for a, b in zip(rng.integers(-7, 8, 100), rng.choice(
        [1, 2, 4, 8], 100), strict=True)]) for i in range(1000)]
    started = time.perf_counter()
    index = MemorizationIndex(training)
    built = time.perf_counter() - started
    query = training[500][2][20:80]
    started = time.perf_counter()
    for _ in range(100):
        run = index.longest_shared_run(query)
    per_query = (time.perf_counter() - started) / 100
    assert run == SharedRun(60, "w500", 0)
    assert built < 10.0
    assert per_query < 0.01
