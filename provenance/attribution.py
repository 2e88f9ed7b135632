"""Style attribution: how much each training work influenced one generated output (sums to exactly 100%).

Pure (numpy and the standard library; no Django, no torch). The Django side builds an
`AttributionIndex` once per model from its training manifest (`work_features` of each work's extracted
melodies; cache it with `to_bytes`/`from_bytes` under the manifest's Merkle root, `METHOD`,
`INDEX_FORMAT` and the corpus extractor version: the vectors depend on all four), turns an output's
melody into a query vector with `melody_features`, and calls `attribute`. Nothing here reads storage or
the database.

Method `clearcue.attribution.symbolic-knn.v1`, precisely:

**Features.** A melody (notes as (onset, duration, pitch): 16th notes, MIDI pitch, transposed so the
tonic is C; meter in quarter notes per bar: the shape of `corpus.Melody` and of the reference composer's
material) is summarised by six histograms ("blocks"):

=================  ====  =======================================================================
block              bins  what is counted
=================  ====  =======================================================================
pitch_class          12  duration-weighted pitch classes relative to the tonic (`metrics`)
interval             25  melodic intervals clipped to +-12 semitones (`metrics`)
duration              8  note durations on the composer's own duration classes (1, 2, 3, 4, 6, 8,
                         12, 16 sixteenths; `vocab.duration_class`), the grid the model was trained on
contour              49  pairs of consecutive interval classes (leap <= -5, skip -4..-3, step -2..-1,
                         repeat, step, skip, leap >= 5): the melodic shape, e.g. "leap then step back"
metric_position       4  where notes start: downbeat, other beat, off-beat eighth, off-beat 16th
density               5  notes per bar on the composer's density classes, scaled to 4/4
                         (`vocab.density_class`)
=================  ====  =======================================================================

No block depends on the octave, on where the melody starts in time, or on the bar length as such
(positions are classed by beat, densities scaled to 4/4), so a 3/4 output compares with 2/4 or 4/4
works. Counts are smoothed with a symmetric Dirichlet prior of `PRIOR_MASS` observations spread evenly
over the bins (a 40-note output is noisy, a 300-tune ABC book is not; without the prior a sparse
histogram is penalised for every bin it happens not to fill). Each smoothed histogram ``h`` becomes
``sqrt(h)``, a unit vector (the Hellinger embedding), and the blocks are concatenated with factors
``sqrt(w_b)``, the block weights ``w_b`` (`BLOCK_WEIGHTS`) summing to 1. The result is a 103-dimension
float32 unit vector whose cosine with another is exactly

    cos(u, v) = sum_b w_b * BC(h_b, h'_b),     BC(p, q) = sum_i sqrt(p_i q_i)

the weighted mean of the blocks' Bhattacharyya coefficients (1 = identical distributions, 0 =
disjoint). A work's vector pools the counts of all its melodies (an ABC book is one work: the unit
licences are granted for). A work or output without a note raises `FeatureError` (code
`attribution_no_melody`); the caller leaves such works out of the index (they taught the model nothing:
the training pipeline drops them too).

The blocks are weighted equally. Measured on the shipped model's 1,313 training works, not on generated
outputs (`scripts/validate_attribution.py --tune`): leave-one-out precision@10 of a work's nearest works
sharing its composer / period tag (macro-averaged over tags with >= 8 works) is 0.484 / 0.660 with
equal weights; every single block alone is worse (0.29-0.41 / 0.41-0.57), dropping any one block
changes it by at most 0.018, and the best of 728 grid weightings reaches 0.492 / 0.681 (by dropping
duration and contour), a difference within noise that neither the held-out-melody nor the free-sample
check below confirmed. Equal weights claim nothing the data cannot support.

**Index.** `AttributionIndex` is an inverted-file (IVF) index over the unit vectors: spherical k-means
(`KMEANS_ITERATIONS` Lloyd iterations from a k-means++ start drawn from `numpy.random.default_rng(seed)`,
trained on at most `TRAIN_PER_LIST` sampled vectors per list) partitions the works into
``round(sqrt(N))`` lists; a query is compared with the centroids, the `nprobe` best lists are scanned,
and the best `k` are re-scored in float64. Below `EXACT_BELOW` works the index keeps no lists and every
search is an exact scan (as fast as clustering would be at that size, and exact). Ties are broken by
row, lower first. Serialised with `numpy.savez` (arrays only; loaded with ``allow_pickle=False``). The
index is a cache: it can always be rebuilt from the manifest, and the same vectors and seed give the
same bytes on the same machine and numpy build. Measured on this 2-core CPU
(`scripts/bench_attribution.py`, works made of perturbed real melodies): 100,000 works build in 1.9 s
(316 lists, 51 MB); the default `nprobe` of 48 finds 98-99% of the exact top 10 and 97.5-99% of the
top 64 (two synthetic sets); features + attribution of one output take 2-5 ms, the index search under
1 ms of it (an exact scan would take ~1.5 ms: at this size the index is a margin, not a necessity).

**Weights.** Candidates are the query's `k` nearest works plus, when the output was generated with
style tags, the `style_k` most similar of the requested-style works (`style_rows`: every work carrying
a requested tag; exact similarities, no index). Similarities are quantised to integer micro-units first,
and the temperature and style weight to the integers the record states, so the attribution depends only
on those integers. Then

    p_sim(i)   = softmax_i(s_i / T)                   over all candidates
    p_style(i) = softmax_i(s_i / T)                   over the requested-style candidates only
    share(i)   = (1 - lambda) * p_sim(i) + lambda * p_style(i)     (share = p_sim without style rows)

`k` = `DEFAULT_K` = 64 and `T` = `TEMPERATURE` = 0.008 minimise the log-loss of predicting a held-out
training work's composer / period from its neighbours' shares (macro-averaged: 1.297 / 0.927; k = 32
gives 1.334 / 0.977, k = 128 no better than 64; T = 0.004 or 0.012 is worse). Nearest-work similarities
in this corpus are ~0.97 and the 1st and 64th neighbour differ by ~0.03, hence a T of thousandths; at
T = 0.008 a cue's shares spread over ~30 works (perplexity), the largest typically ~12%.

`lambda` = `STYLE_WEIGHT` = 0.5 is a policy, not a measurement: a requested tag conditions the model on
a style token whose embedding was learned from exactly the works carrying the tag, an influence that
resemblance does not show, so those works receive at least half of the influence (split among them by
similarity) and the other half goes by resemblance alone. Measured with the shipped model
(`scripts/validate_attribution.py`): cues composed through the planner with a tag resemble that tag's
works no more than the same cues composed without it (the tag's mean share by similarity alone 14%,
untagged 14%, its share of the training works 14%; the plan's forced bar densities apparently dominate),
whereas free samples do for some tags (medieval 48% vs 14% untagged, renaissance 75% vs 49%) and
held-out training melodies are attributed to their own composer / period by plurality 74% of the time.
So without the style weight an output made "in the style of X" would rarely credit X.

**Rounding.** Shares become integer parts per million with `apportion` (largest remainder: floors, then
one more ppm to each of the largest remainders, ties to the earlier candidate in (similarity desc, row)
order), in exact rational arithmetic, so the sum is exactly 1,000,000. Works that round to 0 ppm are
left out. Works beyond the k-th neighbour (and outside the style candidates) get nothing: influence is
modelled as local, and widening k beyond 64 did not predict held-out works any better.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from generation.engines.reference.metrics import (
    duration_histogram,
    interval_histogram,
    notes_per_bar,
    pitch_class_histogram,
)
from generation.engines.reference.vocab import DENSITY_CLASSES, DURATIONS, density_class, duration_class
from licensing.canonical import canonical_bytes

METHOD = "clearcue.attribution.symbolic-knn.v1"
INDEX_FORMAT = "clearcue.attribution-index.v1"

Note = tuple[int, int, int]  # (onset, duration, pitch): 16ths, 16ths, MIDI number in C
FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

# Feature blocks and their weights (sum 1). See the module docstring for how they were chosen.
BLOCK_WEIGHTS: Mapping[str, float] = {
    "pitch_class": 1 / 6,
    "interval": 1 / 6,
    "duration": 1 / 6,
    "contour": 1 / 6,
    "metric_position": 1 / 6,
    "density": 1 / 6,
}
BLOCK_SIZES: Mapping[str, int] = {
    "pitch_class": 12,
    "interval": 25,
    "duration": len(DURATIONS),
    "contour": 49,
    "metric_position": 4,
    "density": DENSITY_CLASSES,
}
DIMENSIONS = sum(BLOCK_SIZES.values())
PRIOR_MASS = 4.0  # pseudo-observations per block, spread evenly over its bins

# Index.
EXACT_BELOW = 2048  # fewer rows: no lists, every search scans all rows exactly
KMEANS_ITERATIONS = 20
TRAIN_PER_LIST = 128  # k-means trains on at most this many sampled vectors per list
DEFAULT_NPROBE = 48  # recall@64 >= 0.975 at 100,000 works (316 lists); see scripts/bench_attribution.py

# Weighting (see `attribute`).
DEFAULT_K = 64
TEMPERATURE = 0.008
STYLE_WEIGHT = 0.5

PPM = 1_000_000
UNATTRIBUTED = ""  # `by_holder` bucket for works without a known rights holder


class FeatureError(ValueError):
    """A melody or work with nothing to measure: a stable `code` and a sentence."""

    def __init__(self, message: str, code: str = "attribution_no_melody") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class IndexFormatError(ValueError):
    """Bytes that are not an attribution index of this format."""

    code = "attribution_index_unreadable"


# ---------------------------------------------------------------------------------------------------
# Features


class _Line(NamedTuple):
    """The `metrics.MelodyLike` shape."""

    meter: int
    notes: tuple[Note, ...]


def _interval_class(step: int) -> int:
    """0 leap down (<= -5), 1 skip down, 2 step down, 3 repeat, 4 step up, 5 skip up, 6 leap up (>= 5)."""
    if step == 0:
        return 3
    size = abs(step)
    offset = 1 if size <= 2 else 2 if size <= 4 else 3
    return 3 + offset if step > 0 else 3 - offset


def _metric_position(onset: int, meter: int) -> int:
    """0 downbeat, 1 another beat, 2 an off-beat eighth, 3 an off-beat sixteenth."""
    position = onset % (meter * 4)
    if position == 0:
        return 0
    if position % 4 == 0:
        return 1
    return 2 if position % 2 == 0 else 3


def _counts(lines: Sequence[_Line]) -> dict[str, tuple[FloatArray, float]]:
    """Per block: the normalised histogram and how many observations it counts."""
    notes = sum(len(line.notes) for line in lines)
    pairs = sum(max(0, len(line.notes) - 1) for line in lines)
    folded = np.zeros(len(DURATIONS), dtype=np.float64)
    for sixteenths, share in enumerate(duration_histogram(lines), start=1):
        folded[duration_class(sixteenths)] += share
    contour = np.zeros(49, dtype=np.float64)
    position = np.zeros(4, dtype=np.float64)
    density = np.zeros(DENSITY_CLASSES, dtype=np.float64)
    for line in lines:
        classes = [_interval_class(b[2] - a[2]) for a, b in itertools.pairwise(line.notes)]
        for first, second in itertools.pairwise(classes):
            contour[first * 7 + second] += 1
        for onset, _, _ in line.notes:
            position[_metric_position(onset, line.meter)] += 1
        for count in notes_per_bar(line):
            density[density_class(count, line.meter)] += 1
    return {  # each histogram sums to 1, or is all zeros when its count (second) is 0
        "pitch_class": (pitch_class_histogram(lines), float(notes)),
        "interval": (interval_histogram(lines), float(pairs)),
        "duration": (folded, float(notes)),
        "contour": (contour / max(1.0, contour.sum()), float(contour.sum())),
        "metric_position": (position / max(1.0, position.sum()), float(notes)),
        "density": (density / max(1.0, density.sum()), float(density.sum())),
    }


def _blocks(lines: Sequence[_Line]) -> dict[str, FloatArray]:
    """Smoothed histograms of pooled counts, one per block (see the module docstring)."""
    if not any(line.notes for line in lines):
        raise FeatureError("there is no note to measure")
    for line in lines:
        if line.meter <= 0:
            raise FeatureError(f"meter must be positive, not {line.meter}", code="attribution_bad_meter")
    blocks: dict[str, FloatArray] = {}
    for name, (histogram, observations) in _counts(lines).items():
        bins = BLOCK_SIZES[name]
        blocks[name] = (histogram * observations + PRIOR_MASS / bins) / (observations + PRIOR_MASS)
    return blocks


def feature_blocks(melodies: Iterable[tuple[Sequence[Sequence[int]], int]]) -> dict[str, FloatArray]:
    """The smoothed histogram of every block (each sums to 1) of (notes, meter) melodies, counts pooled."""
    return _blocks([_Line(int(meter), _as_notes(notes)) for notes, meter in melodies])


def embed_blocks(blocks: Mapping[str, FloatArray], weights: Mapping[str, float] = BLOCK_WEIGHTS) -> Float32Array:
    """The unit vector of block histograms: sqrt(w_b) * sqrt(h_b) concatenated in `BLOCK_SIZES` order."""
    total = math.fsum(weights[name] for name in BLOCK_SIZES)
    parts = [math.sqrt(weights[name] / total) * np.sqrt(np.asarray(blocks[name], dtype=np.float64))
             for name in BLOCK_SIZES]
    vector = np.concatenate(parts)
    unit: Float32Array = (vector / np.linalg.norm(vector)).astype(np.float32)
    return unit


def melody_features(notes: Sequence[Sequence[int]], meter: int) -> Float32Array:
    """Unit feature vector (float32, `DIMENSIONS`) of one melody; FeatureError when it has no note."""
    return embed_blocks(_blocks([_Line(int(meter), _as_notes(notes))]))


def work_features(melodies: Iterable[tuple[Sequence[Sequence[int]], int]]) -> Float32Array:
    """Unit feature vector of a work from its (notes, meter) melodies, counts pooled; FeatureError if none."""
    return embed_blocks(feature_blocks(melodies))


def _as_notes(notes: Sequence[Sequence[int]]) -> tuple[Note, ...]:
    """Notes as int triples sorted by onset (the composer's material arrives as JSON lists)."""
    return tuple(sorted((int(n[0]), int(n[1]), int(n[2])) for n in notes))


# ---------------------------------------------------------------------------------------------------
# Index


def _unit_rows(vectors: npt.ArrayLike) -> Float32Array:
    """Rows as float32 unit vectors; ValueError for a wrong shape, non-finite values or a zero row."""
    array = np.asarray(vectors, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"vectors must be a 2-D array with at least one column, not shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("vectors must be finite")
    norms = np.linalg.norm(array, axis=1)
    if (norms == 0).any():
        raise ValueError(f"zero vector at row {int(np.flatnonzero(norms == 0)[0])}")
    unit: Float32Array = (array / norms[:, None]).astype(np.float32)
    return unit


def _top(scores: npt.NDArray[Any], rows: npt.NDArray[np.int64], k: int) -> npt.NDArray[np.int64]:
    """Positions of the k best scores, best first, ties to the lower row (also at the cut)."""
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = np.flatnonzero(scores >= kth)  # every tie at the cut, so the row decides among them
    else:
        keep = np.arange(len(scores))
    order = np.lexsort((rows[keep], -scores[keep].astype(np.float64)))
    return np.asarray(keep[order[:k]], dtype=np.int64)


def _kmeans(data: Float32Array, lists: int, rng: np.random.Generator) -> Float32Array:
    """Spherical k-means centroids (unit rows): k-means++ start, then `KMEANS_ITERATIONS` Lloyd steps."""
    n = len(data)
    centroids = np.empty((lists, data.shape[1]), dtype=np.float32)
    centroids[0] = data[int(rng.integers(n))]
    # k-means++ on the cosine distance 1 - s: each new centroid is drawn with probability ~ distance^2.
    closest = np.maximum(0.0, 1.0 - data @ centroids[0]).astype(np.float64)
    for i in range(1, lists):
        weights = closest**2
        total = weights.sum()
        pick = int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n))
        centroids[i] = data[pick]
        closest = np.minimum(closest, np.maximum(0.0, 1.0 - data @ centroids[i]))
    for _ in range(KMEANS_ITERATIONS):
        assignment, best = _assign(data, centroids)
        order = np.argsort(assignment, kind="stable")
        counts = np.bincount(assignment, minlength=lists)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.zeros((lists, data.shape[1]), dtype=np.float64)
        filled = counts > 0
        sums[filled] = np.add.reduceat(data[order].astype(np.float64), starts[filled], axis=0)
        for empty in np.flatnonzero(counts == 0):
            # An empty list takes the vector worst served by its own centroid (ties: the lowest index).
            worst = int(np.argmin(best))
            sums[empty] = data[worst]
            best[worst] = np.inf
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        updated = (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        if np.array_equal(updated, centroids):
            break
        centroids = updated
    return centroids


def _assign(data: Float32Array, centroids: Float32Array, chunk: int = 16384) -> tuple[
        npt.NDArray[np.int64], FloatArray]:
    """Nearest centroid of every row (ties to the lower list) and its similarity, in bounded memory."""
    assignment = np.empty(len(data), dtype=np.int64)
    best = np.empty(len(data), dtype=np.float64)
    for start in range(0, len(data), chunk):
        scores = data[start:start + chunk] @ centroids.T
        assignment[start:start + chunk] = np.argmax(scores, axis=1)
        best[start:start + chunk] = scores[np.arange(len(scores)), assignment[start:start + chunk]]
    return assignment, best


class AttributionIndex:
    """Inverted-file index of training works' unit feature vectors (exact below `EXACT_BELOW` rows).

    Rows are the positions of `keys`/`vectors` given to `build`; vectors are stored grouped by list
    (`_packed`, with `_rows` mapping back to rows and `_offsets` delimiting the lists).
    """

    def __init__(self, keys: Sequence[str], packed: Float32Array, rows: npt.NDArray[np.int64],
                 centroids: Float32Array, offsets: npt.NDArray[np.int64], seed: int) -> None:
        self._keys = tuple(keys)
        self._packed = packed
        self._rows = rows
        self._centroids = centroids
        self._offsets = offsets
        self.seed = seed
        self._position = np.empty(len(rows), dtype=np.int64)  # row -> index into _packed
        self._position[rows] = np.arange(len(rows), dtype=np.int64)

    @classmethod
    def build(cls, keys: Sequence[str], vectors: npt.ArrayLike, *, seed: int = 0,
              lists: int | None = None) -> AttributionIndex:
        """Index unit vectors (one row per key; keys unique); `lists` overrides round(sqrt(N))."""
        data = _unit_rows(vectors)
        keys = [str(key) for key in keys]
        if len(keys) != len(data):
            raise ValueError(f"{len(keys)} keys for {len(data)} vectors")
        if len(set(keys)) != len(keys):
            raise ValueError("keys must be unique")
        n = len(data)
        if lists is None:
            lists = 0 if n < EXACT_BELOW else round(math.sqrt(n))
        if lists < 0 or lists > n:
            raise ValueError(f"lists must be within 0..{n}, not {lists}")
        rows = np.arange(n, dtype=np.int64)
        if lists == 0:
            empty = np.zeros((0, data.shape[1]), dtype=np.float32)
            return cls(keys, data, rows, empty, np.asarray([0, n], dtype=np.int64), seed)
        rng = np.random.default_rng(seed)
        sample = data
        if n > lists * TRAIN_PER_LIST:
            sample = data[np.sort(rng.choice(n, size=lists * TRAIN_PER_LIST, replace=False))]
        centroids = _kmeans(sample, lists, rng)
        assignment, _ = _assign(data, centroids)
        order = np.lexsort((rows, assignment))  # by list, then by row
        counts = np.bincount(assignment, minlength=lists)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(keys, np.ascontiguousarray(data[order]), rows[order], centroids, offsets, seed)

    @property
    def keys(self) -> tuple[str, ...]:
        """Work keys by row."""
        return self._keys

    @property
    def dim(self) -> int:
        """Vector dimension."""
        return int(self._packed.shape[1])

    @property
    def lists(self) -> int:
        """Number of inverted lists (0: exact index)."""
        return len(self._centroids)

    def __len__(self) -> int:
        return len(self._keys)

    def vector(self, row: int) -> Float32Array:
        """The stored unit vector of a row."""
        return np.asarray(self._packed[self._position[row]], dtype=np.float32)

    def _query(self, query: npt.ArrayLike) -> Float32Array:
        vector = np.asarray(query, dtype=np.float64).reshape(-1)
        if vector.shape != (self.dim,):
            raise ValueError(f"query must have {self.dim} dimensions, not {vector.shape[0]}")
        if not np.isfinite(vector).all() or not np.linalg.norm(vector) > 0:
            raise ValueError("query must be a finite non-zero vector")
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def search(self, query: npt.ArrayLike, k: int, nprobe: int = DEFAULT_NPROBE) -> list[tuple[int, float]]:
        """The k most similar rows as (row, cosine), best first, ties to the lower row.

        Scans the `nprobe` lists whose centroids are most similar to the query (every row when the
        index is exact or nprobe covers all lists); cosines of the results are recomputed in float64.
        """
        q = self._query(query)
        if k <= 0 or not len(self):
            return []
        if self.lists == 0 or nprobe >= self.lists:
            candidates = np.arange(len(self._rows), dtype=np.int64)
            scores = self._packed @ q
        else:
            probe = _top(self._centroids @ q, np.arange(self.lists, dtype=np.int64), max(1, nprobe))
            spans = [(int(self._offsets[i]), int(self._offsets[i + 1])) for i in np.sort(probe)]
            # Lists are contiguous in `_packed`: score each slice in place instead of gathering rows.
            candidates = np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in spans])
            scores = np.concatenate([self._packed[a:b] @ q for a, b in spans])
        best = candidates[_top(scores, self._rows[candidates], k)]
        exact = self._packed[best].astype(np.float64) @ q.astype(np.float64)
        rows = self._rows[best]
        order = np.lexsort((rows, -exact))
        return [(int(rows[i]), float(exact[i])) for i in order]

    def similarities(self, query: npt.ArrayLike, rows: Sequence[int] | npt.NDArray[np.int64]) -> FloatArray:
        """Exact float64 cosines of the query with the given rows, in the order given."""
        q = self._query(query).astype(np.float64)
        index = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"rows must be within 0..{len(self) - 1}")
        return np.asarray(self._packed[self._position[index]].astype(np.float64) @ q, dtype=np.float64)

    def to_bytes(self) -> bytes:
        """The index as an uncompressed `.npz` archive (arrays only; no pickled objects)."""
        buffer = io.BytesIO()
        keys = np.asarray(self._keys, dtype=np.str_) if self._keys else np.zeros(0, dtype="<U1")
        np.savez(buffer, format=np.asarray(INDEX_FORMAT), keys=keys, packed=self._packed, rows=self._rows,
                 centroids=self._centroids, offsets=self._offsets, seed=np.asarray(self.seed, dtype=np.int64))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> AttributionIndex:
        """Inverse of `to_bytes`; IndexFormatError for anything else (never unpickles)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                if str(archive["format"]) != INDEX_FORMAT:
                    raise IndexFormatError(f"not an {INDEX_FORMAT} archive: {archive['format']!s}")
                keys = [str(key) for key in archive["keys"]]
                packed = np.asarray(archive["packed"], dtype=np.float32)
                rows = np.asarray(archive["rows"], dtype=np.int64)
                centroids = np.asarray(archive["centroids"], dtype=np.float32)
                offsets = np.asarray(archive["offsets"], dtype=np.int64)
                seed = int(archive["seed"])
        except IndexFormatError:
            raise
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise IndexFormatError(f"unreadable attribution index: {exc}") from exc
        n = len(keys)
        if (packed.ndim != 2 or len(packed) != n or sorted(rows.tolist()) != list(range(n))
                or len(offsets) != max(1, len(centroids)) + 1 or offsets[0] != 0 or offsets[-1] != n
                or (np.diff(offsets) < 0).any()
                or (centroids.ndim != 2 or (len(centroids) and centroids.shape[1] != packed.shape[1]))):
            raise IndexFormatError("inconsistent attribution index arrays")
        return cls(keys, packed, rows, centroids, offsets, seed)


# ---------------------------------------------------------------------------------------------------
# Rounding


def apportion(weights: Sequence[float], total: int = PPM) -> list[int]:
    """Non-negative integers proportional to `weights` that sum to exactly `total` (largest remainder).

    Exact rational arithmetic: every integer part is floored, then the units left over go one each to
    the largest remainders, ties to the earlier weight. All-zero weights are split evenly (as if equal).
    ValueError for no weights, a negative or non-finite weight, or a negative total.
    """
    if not weights:
        raise ValueError("apportion needs at least one weight")
    if total < 0:
        raise ValueError("total must be non-negative")
    exact: list[Fraction] = []
    for weight in weights:
        value = float(weight)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"weights must be finite and non-negative, not {weight!r}")
        exact.append(Fraction(value))
    if sum(exact) == 0:
        exact = [Fraction(1)] * len(exact)
    scale = Fraction(total) / sum(exact)
    quotas = [weight * scale for weight in exact]
    parts = [math.floor(quota) for quota in quotas]
    left = total - sum(parts)
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts


# ---------------------------------------------------------------------------------------------------
# Attribution


@dataclass(frozen=True)
class Contribution:
    """One training work's share of an output's influence."""

    work: str  # work key (manifest record "work")
    ppm: int  # parts per million of the output's influence
    similarity_micro: int  # cosine similarity with the output, in millionths
    style_reference: bool  # the work carries a style tag the output was generated with

    def to_json(self) -> dict[str, Any]:
        """Canonical-JSON-safe dict."""
        return {"work": self.work, "ppm": self.ppm, "similarity_micro": self.similarity_micro,
                "style_reference": self.style_reference}


@dataclass(frozen=True)
class Attribution:
    """An output's influence distribution over training works: ppm summing to exactly 1,000,000."""

    method: str
    params: dict[str, Any]  # ints and strings only
    contributions: tuple[Contribution, ...]  # ppm desc, then work key

    def to_json(self) -> dict[str, Any]:
        """Canonical-JSON-safe dict (ints, strings and booleans only)."""
        return {"method": self.method, "params": dict(self.params),
                "contributions": [c.to_json() for c in self.contributions]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Attribution:
        """Inverse of `to_json`; ValueError when the shares do not sum to 1,000,000."""
        try:
            contributions = tuple(
                Contribution(str(c["work"]), int(c["ppm"]), int(c["similarity_micro"]), bool(c["style_reference"]))
                for c in data["contributions"])
            attribution = cls(str(data["method"]), dict(data["params"]), contributions)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not an attribution: {exc!r}") from exc
        if sum(c.ppm for c in contributions) != PPM or any(c.ppm < 0 for c in contributions):
            raise ValueError("attribution shares must be non-negative and sum to 1,000,000 ppm")
        return attribution

    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON."""
        return hashlib.sha256(canonical_bytes(self.to_json())).hexdigest()

    def top(self, n: int) -> tuple[Contribution, ...]:
        """The n largest contributions."""
        return self.contributions[:max(0, n)]

    def by_holder(self, holder_of: Mapping[str, str]) -> list[tuple[str, int]]:
        """ppm per rights holder (works missing from `holder_of` go to `UNATTRIBUTED`), ppm desc then name."""
        totals: dict[str, int] = {}
        for contribution in self.contributions:
            holder = holder_of.get(contribution.work, UNATTRIBUTED)
            totals[holder] = totals.get(holder, 0) + contribution.ppm
        return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def _softmax(similarities: Sequence[int], temperature: float) -> list[float]:
    """exp((s - max) / T) of micro-unit similarities, normalised (the max term is exactly 1)."""
    top = max(similarities)
    values = [math.exp((s - top) / 1e6 / temperature) for s in similarities]
    total = math.fsum(values)
    return [value / total for value in values]


def attribute(index: AttributionIndex, query_vector: npt.ArrayLike, *, style_rows: Collection[int] = (),
              k: int = DEFAULT_K, nprobe: int = DEFAULT_NPROBE, temperature: float = TEMPERATURE,
              style_weight: float = STYLE_WEIGHT, style_k: int | None = None) -> Attribution:
    """The output's influence over the index's works (see the module docstring, "Weights").

    `style_rows` are the rows of works carrying a style tag the output was generated with (the tags
    that reached the model: those it knows, as `Vocabulary.prefix` keeps them); the `style_k`
    (default: k) most similar of them join the candidates and share `style_weight` of the total.
    Deterministic for the same index, query and parameters.
    """
    if len(index) == 0:
        raise ValueError("cannot attribute over an empty index")
    if k <= 0 or nprobe <= 0:
        raise ValueError("k and nprobe must be positive")
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError("temperature must be positive")
    if not 0.0 <= style_weight <= 1.0:
        raise ValueError("style_weight must be within [0, 1]")
    style_k = k if style_k is None else style_k
    if style_k < 0:
        raise ValueError("style_k must be non-negative")
    # The record states the parameters as integers; compute with exactly those values.
    temperature_micro = max(1, round(temperature * 1e6))
    style_weight_ppm = round(style_weight * PPM)
    temperature = temperature_micro / 1e6
    style_weight = style_weight_ppm / PPM
    similarity: dict[int, int] = {row: round(score * 1e6) for row, score in index.search(query_vector, k, nprobe)}
    styled = sorted({int(row) for row in style_rows})
    style_candidates: list[int] = []
    if styled and style_k:
        scores = index.similarities(query_vector, styled)
        rows = np.asarray(styled, dtype=np.int64)
        for position in _top(scores, rows, style_k):
            row = int(rows[position])
            similarity.setdefault(row, round(float(scores[position]) * 1e6))
            style_candidates.append(row)
    # Candidate order: similarity desc, then row; it is also apportion's tie order.
    candidates = sorted(similarity, key=lambda row: (-similarity[row], row))
    shares = _softmax([similarity[row] for row in candidates], temperature)
    if style_candidates and style_weight > 0:
        in_style = set(style_candidates)
        styled_candidates = [row for row in candidates if row in in_style]
        style_shares = dict(zip(styled_candidates, _softmax([similarity[r] for r in styled_candidates], temperature),
                                strict=True))
        shares = [(1 - style_weight) * share + style_weight * style_shares.get(row, 0.0)
                  for row, share in zip(candidates, shares, strict=True)]
    ppm = apportion(shares, PPM)
    in_style_rows = set(styled)
    contributions = sorted(
        (Contribution(index.keys[row], part, similarity[row], row in in_style_rows)
         for row, part in zip(candidates, ppm, strict=True) if part > 0),
        key=lambda c: (-c.ppm, c.work))
    params = {
        "k": k, "nprobe": nprobe, "style_k": style_k,
        "temperature_micro": temperature_micro, "style_weight_ppm": style_weight_ppm,
        "index_rows": len(index), "index_lists": index.lists, "style_rows": len(styled),
        "features": "pitch_class,interval,duration,contour,metric_position,density",
    }
    return Attribution(METHOD, params, tuple(contributions))
