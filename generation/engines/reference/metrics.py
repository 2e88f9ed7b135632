"""Musical statistics of melodies, a Markov-chain baseline, and a memorization index.

Pure and Django-free (numpy only), so the corpus extractor, the training script and the evaluation
share one definition of "what the catalog sounds like" and of "how much of a training work an output
reproduces".

Melodies are read through the `MelodyLike` protocol: `notes` as (onset, duration, pitch) triples with
onset and duration in 16th notes and pitch a MIDI number already transposed so the tonic is C, plus
`meter` in quarter notes per bar (the shape `corpus.Melody` has). Histograms are numpy float64 vectors
that sum to 1 (all zeros only when there was nothing to count).

- Key finding is Krumhansl-Schmuckler: correlate a duration-weighted pitch-class histogram with the 24
  rotations of the Krumhansl-Kessler probe-tone profiles (Krumhansl, *Cognitive Foundations of Musical
  Pitch*, 1990, p. 30) and take the best.
- Distances between histograms are Jensen-Shannon divergences in bits (0 = identical, 1 = disjoint).
- `MarkovBaseline` is the floor a trained model must beat: a first-order chain over
  (interval, duration) events.
- `MemorizationIndex` answers "what is the longest run of consecutive events of this output that also
  occurs, consecutively, in some training melody" with a suffix automaton over all training events.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

Note = tuple[int, int, int]  # (onset, duration, pitch): 16th notes, 16th notes, MIDI number
Event = tuple[int, int]  # (interval from the previous pitch in semitones, duration in 16th notes)
FloatArray = npt.NDArray[np.float64]

# Krumhansl-Kessler probe-tone ratings, index 0 = the tonic.
KK_MAJOR: tuple[float, ...] = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR: tuple[float, ...] = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
KEY_MODES = ("major", "minor")  # row order of `key_correlations`

INTERVAL_RANGE = 12  # intervals are clipped to [-12, 12] -> 25 bins
MAX_DURATION = 16  # durations (16ths) are clipped to [1, 16] -> 16 bins; a whole note and longer share one
MAX_NOTES_PER_BAR = 16  # notes-per-bar counts are clipped to [0, 16] -> 17 bins


class MelodyLike(Protocol):
    """What the statistics read from a melody (`corpus.Melody` satisfies it)."""

    @property
    def meter(self) -> int: ...

    @property
    def notes(self) -> tuple[Note, ...]: ...


# ---------------------------------------------------------------------------------------------------
# Key finding


def _profile_matrix() -> FloatArray:
    """The 24 key profiles as a (2, 12, 12) array: [mode, tonic, pitch class], each row z-scored."""
    out = np.empty((2, 12, 12), dtype=np.float64)
    for mode_index, profile in enumerate((KK_MAJOR, KK_MINOR)):
        base = np.asarray(profile, dtype=np.float64)
        base = (base - base.mean()) / base.std()
        for tonic in range(12):
            out[mode_index, tonic] = np.roll(base, tonic)  # profile[pc - tonic] at pc
    return out


_PROFILES = _profile_matrix()


def key_correlations(histogram: Sequence[float] | FloatArray) -> FloatArray:
    """Pearson correlations of a 12-bin pitch-class histogram with every key: shape (2, 12) [mode, tonic].

    All zeros when the histogram is flat (one pitch class equally weighted as every other, or empty):
    no key is then better than another.
    """
    hist = np.asarray(histogram, dtype=np.float64)
    if hist.shape != (12,):
        raise ValueError(f"a pitch-class histogram has 12 bins, not {hist.shape}")
    std = hist.std()
    if std == 0.0:
        return np.zeros((2, 12), dtype=np.float64)
    z = (hist - hist.mean()) / std
    # Both vectors are z-scored, so the mean of their product is Pearson's r.
    return np.asarray(_PROFILES @ z / 12.0, dtype=np.float64)


def key_estimate(pitches_with_weights: Iterable[tuple[int, float]]) -> tuple[int, str, float]:
    """Krumhansl-Schmuckler key of (MIDI pitch or pitch class, weight) pairs: (tonic pc, mode, r).

    Weights are usually durations. Ties (and the undefined case of no or flat input, returned as
    (0, "major", 0.0)) resolve to the first key in the order C major, C# major ... B major, C minor ...
    """
    hist = np.zeros(12, dtype=np.float64)
    for pitch, weight in pitches_with_weights:
        hist[int(pitch) % 12] += float(weight)
    corr = key_correlations(hist)
    flat_index = int(np.argmax(corr))  # argmax returns the first maximum: the documented tie order
    mode_index, tonic = divmod(flat_index, 12)
    return tonic, KEY_MODES[mode_index], float(corr[mode_index, tonic])


# ---------------------------------------------------------------------------------------------------
# Histograms


def _normalized(counts: FloatArray) -> FloatArray:
    """Counts scaled to sum to 1 (left at zero when nothing was counted)."""
    total = counts.sum()
    return counts / total if total > 0 else counts


def pitch_class_histogram(melodies: Iterable[MelodyLike]) -> FloatArray:
    """Duration-weighted pitch classes relative to the tonic (melodies are in C): 12 bins, sums to 1."""
    counts = np.zeros(12, dtype=np.float64)
    for melody in melodies:
        for _, duration, pitch in melody.notes:
            counts[pitch % 12] += duration
    return _normalized(counts)


def key_normalized_pitch_class_histogram(melodies: Iterable[MelodyLike]) -> FloatArray:
    """Duration-weighted pitch classes after moving each melody's own key to C major or A minor: 12 bins.

    The key is estimated from the melody's notes (`key_estimate`), the same way for every set compared,
    so melodies in different keys, and outputs transposed into a planned key, are compared by the scale
    degrees they use; a minor melody lands on A so both modes share the white-key collection.
    """
    counts = np.zeros(12, dtype=np.float64)
    for melody in melodies:
        if not melody.notes:
            continue
        tonic, mode, _ = key_estimate((pitch, duration) for _, duration, pitch in melody.notes)
        shift = (9 if mode == "minor" else 0) - tonic
        for _, duration, pitch in melody.notes:
            counts[(pitch + shift) % 12] += duration
    return _normalized(counts)


def interval_histogram(melodies: Iterable[MelodyLike]) -> FloatArray:
    """Melodic intervals between consecutive notes, clipped to [-12, 12]: 25 bins (index 12 = unison)."""
    counts = np.zeros(2 * INTERVAL_RANGE + 1, dtype=np.float64)
    for melody in melodies:
        pitches = [pitch for _, _, pitch in melody.notes]
        for previous, current in itertools.pairwise(pitches):
            step = max(-INTERVAL_RANGE, min(INTERVAL_RANGE, current - previous))
            counts[step + INTERVAL_RANGE] += 1
    return _normalized(counts)


def duration_histogram(melodies: Iterable[MelodyLike]) -> FloatArray:
    """Note durations in 16ths clipped to [1, 16]: 16 bins (index 0 = a 16th, 15 = a whole note or more)."""
    counts = np.zeros(MAX_DURATION, dtype=np.float64)
    for melody in melodies:
        for _, duration, _ in melody.notes:
            counts[min(MAX_DURATION, max(1, duration)) - 1] += 1
    return _normalized(counts)


def notes_per_bar(melody: MelodyLike) -> list[int]:
    """How many notes start in each bar, from the bar of the first note to the bar of the last."""
    if not melody.notes:
        return []
    bar_length = melody.meter * 4
    bars = [onset // bar_length for onset, _, _ in melody.notes]
    counts = Counter(bars)
    return [counts.get(bar, 0) for bar in range(bars[0], max(bars) + 1)]


def notes_per_bar_histogram(melodies: Iterable[MelodyLike]) -> FloatArray:
    """Distribution of notes per bar over every bar of every melody, clipped to [0, 16]: 17 bins."""
    counts = np.zeros(MAX_NOTES_PER_BAR + 1, dtype=np.float64)
    for melody in melodies:
        for count in notes_per_bar(melody):
            counts[min(MAX_NOTES_PER_BAR, count)] += 1
    return _normalized(counts)


def rhythm_density(melodies: Iterable[MelodyLike]) -> float:
    """Mean number of notes per bar over every bar of every melody (0.0 for no bars)."""
    bars = 0
    notes = 0
    for melody in melodies:
        per_bar = notes_per_bar(melody)
        bars += len(per_bar)
        notes += sum(per_bar)
    return notes / bars if bars else 0.0


def distance(p: Sequence[float] | FloatArray, q: Sequence[float] | FloatArray) -> float:
    """Jensen-Shannon divergence in bits between two histograms (normalized first): 0 identical, 1 disjoint."""
    a = np.asarray(p, dtype=np.float64)
    b = np.asarray(q, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"histograms must be 1-D and of one shape, not {a.shape} and {b.shape}")
    if (a < 0).any() or (b < 0).any() or a.sum() <= 0 or b.sum() <= 0:
        raise ValueError("histograms must be non-negative with a positive total")
    a = a / a.sum()
    b = b / b.sum()
    m = (a + b) / 2

    def kl(x: FloatArray) -> float:
        mask = x > 0  # 0 log 0 = 0; m > 0 wherever x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / m[mask])))

    # Clamp: rounding can leave -1e-17 for identical inputs, and JS in bits never exceeds 1.
    return min(1.0, max(0.0, (kl(a) + kl(b)) / 2))


def corpus_statistics(melodies: Sequence[MelodyLike]) -> dict[str, object]:
    """Every statistic above for a set of melodies, JSON-serializable (histograms as lists of floats)."""
    modes = Counter(str(getattr(melody, "mode", "")) for melody in melodies)
    meters = Counter(melody.meter for melody in melodies)
    return {
        "melodies": len(melodies),
        "notes": sum(len(melody.notes) for melody in melodies),
        "modes": {mode: modes[mode] for mode in sorted(modes) if mode},
        "meters": {str(meter): meters[meter] for meter in sorted(meters)},
        "rhythm_density": rhythm_density(melodies),
        "pitch_class_histogram": pitch_class_histogram(melodies).tolist(),
        "key_normalized_pitch_class_histogram": key_normalized_pitch_class_histogram(melodies).tolist(),
        "interval_histogram": interval_histogram(melodies).tolist(),
        "duration_histogram": duration_histogram(melodies).tolist(),
        "notes_per_bar_histogram": notes_per_bar_histogram(melodies).tolist(),
    }


# ---------------------------------------------------------------------------------------------------
# Piece by piece (Yang & Lerch)

PIECE_FEATURES = ("pitch_class", "interval", "duration", "notes_per_bar")
_PIECE_HISTOGRAMS = {"pitch_class": pitch_class_histogram, "interval": interval_histogram,
                     "duration": duration_histogram, "notes_per_bar": notes_per_bar_histogram}
OVERLAP_BINS = 100


def piece_features(melodies: Sequence[MelodyLike]) -> dict[str, FloatArray]:
    """Each melody's own histograms: one (melodies x bins) matrix per name in `PIECE_FEATURES`.

    A row is the histogram of that melody alone (all zeros where it has nothing to count, e.g. the
    intervals of a one-note melody).
    """
    return {name: np.array([histogram([melody]) for melody in melodies], dtype=np.float64).reshape(
        len(melodies), -1) for name, histogram in _PIECE_HISTOGRAMS.items()}


def piece_counts(melodies: Sequence[MelodyLike]) -> dict[str, FloatArray]:
    """Each melody's unnormalized histogram rows: the rows of any subset sum to that subset's pooled counts.

    (Durations weight pitch classes; a melody of n notes counts n - 1 intervals, n durations and one entry
    per bar.)
    """
    features = piece_features(melodies)
    weights = {
        "pitch_class": [sum(duration for _, duration, _ in melody.notes) for melody in melodies],
        "interval": [max(0, len(melody.notes) - 1) for melody in melodies],
        "duration": [len(melody.notes) for melody in melodies],
        "notes_per_bar": [len(notes_per_bar(melody)) for melody in melodies],
    }
    return {name: features[name] * np.asarray(weights[name], dtype=np.float64)[:, None] for name in PIECE_FEATURES}


def paired_bootstrap(reference: dict[str, Sequence[float] | FloatArray], a: dict[str, FloatArray],
                     b: dict[str, FloatArray], *, density: float | None = None, resamples: int = 1000,
                     seed: int = 0) -> dict[str, float]:
    """Share of bootstrap resamples in which set `a`'s pooled histogram is closer to `reference` than `b`'s.

    `a` and `b` are `piece_counts` of paired sets (row i of each stands for the same corpus melody), and
    `reference` holds the pooled histogram per feature. Each resample draws the same row indices, with
    replacement, for both sets, so the share says how often the ordering of the two distances survives
    the sampling noise of the pieces: near 1 or 0 is a real difference, near 0.5 is none. With `density`
    (the reference's mean notes per bar), "density" is compared too, by the absolute difference of the
    mean notes per bar (from the notes-per-bar rows; bins past `MAX_NOTES_PER_BAR` count as that many).
    """
    rows = {len(matrix) for matrix in (*a.values(), *b.values())}
    if len(rows) != 1 or 0 in rows:
        raise ValueError("paired_bootstrap needs paired, non-empty sets of one size")
    size = rows.pop()
    draws = np.random.default_rng(seed).integers(0, size, size=(resamples, size))
    notes = np.arange(MAX_NOTES_PER_BAR + 1, dtype=np.float64)
    names = [name for name in PIECE_FEATURES if name in a and name in b and name in reference]
    if density is not None:
        names.append("density")  # pools the notes-per-bar rows

    def gap(name: str, pooled: FloatArray) -> float:
        """How far a pooled row is from the reference."""
        if name == "density":
            return abs(float(pooled @ notes) / float(pooled.sum()) - float(density or 0.0))
        return distance(reference[name], pooled)

    out = {}
    for name in names:
        rows_of = "notes_per_bar" if name == "density" else name
        wins = 0
        for index in draws:
            pooled_a, pooled_b = a[rows_of][index].sum(axis=0), b[rows_of][index].sum(axis=0)
            if pooled_a.sum() > 0 and pooled_b.sum() > 0 and gap(name, pooled_a) < gap(name, pooled_b):
                wins += 1
        out[name] = wins / resamples
    return out


def _pairwise(a: FloatArray, b: FloatArray) -> FloatArray:
    """Euclidean distances between every row of `a` and every row of `b` (a matrix)."""
    squared: FloatArray = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    out: FloatArray = np.sqrt(np.maximum(squared, 0.0))
    return out


def overlap_area(x: Sequence[float] | FloatArray, y: Sequence[float] | FloatArray, bins: int = OVERLAP_BINS
                 ) -> float:
    """Overlapping area of two samples' distributions: 1 identical, 0 disjoint.

    Both are binned on one shared grid from 0 to the 99.9th percentile of the two together (values above
    it count in the last bin, so one outlier does not coarsen the grid); the area is the sum over bins of
    the smaller of the two normalized counts.
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1 or not len(a) or not len(b):
        raise ValueError("overlap_area needs two non-empty 1-D samples")
    if (a < 0).any() or (b < 0).any():
        raise ValueError("overlap_area compares distances, which are non-negative")
    top = float(np.percentile(np.concatenate([a, b]), 99.9))
    if top <= 0.0:
        return 1.0 if a.max() == b.max() == 0.0 else 0.0
    edges = np.linspace(0.0, top, bins + 1)
    pa = np.histogram(np.minimum(a, top), bins=edges)[0] / len(a)
    pb = np.histogram(np.minimum(b, top), bins=edges)[0] / len(b)
    return float(np.minimum(pa, pb).sum())


def set_overlap(candidates: Sequence[MelodyLike], reference: Sequence[MelodyLike]) -> dict[str, float]:
    """How much each candidate piece resembles reference pieces the way reference pieces resemble each other.

    The absolute/relative measurement of Yang & Lerch ("On the evaluation of generative models in music",
    Neural Computing and Applications 32, 2020), with the features of `piece_features`: for each feature,
    the distances from every candidate piece to every reference piece (inter-set) are compared with the
    distances between every two distinct reference pieces (intra-set) by their overlapping area. A set drawn
    from the reference's own distribution scores near 1 (only sampling noise keeps it lower); a set of
    pieces that all sound like the reference's *average* scores lower even when its pooled histograms match,
    because real pieces differ from each other (one tune moves by step, the next by leaps, one is busy,
    the next is not). This is what pooled histograms cannot see: a first-order Markov chain matches the
    pooled interval and duration histograms by construction, but not how they vary from piece to piece.
    """
    if len(reference) < 2 or not candidates:
        raise ValueError("set_overlap needs at least one candidate and two reference pieces")
    cand, ref = piece_features(candidates), piece_features(reference)
    upper = np.triu_indices(len(reference), k=1)
    out = {}
    for name in PIECE_FEATURES:
        intra = _pairwise(ref[name], ref[name])[upper]
        inter = _pairwise(cand[name], ref[name]).ravel()
        out[name] = overlap_area(intra, inter)
    return out


# ---------------------------------------------------------------------------------------------------
# Events


def events_of(notes: Sequence[Note]) -> list[Event]:
    """(interval to the previous pitch, duration) for every note after the first: len(notes) - 1 events.

    The first note has no previous pitch, so it has no event: a run of k events spans k + 1 notes whose
    shape (intervals) and rhythm (durations of all but the first) match, at any transposition. Rests are
    not events; a melody copied with different rests still matches.
    """
    return [
        (current[2] - previous[2], current[1])
        for previous, current in itertools.pairwise(notes)
    ]


# ---------------------------------------------------------------------------------------------------
# Markov baseline


@dataclass
class MarkovBaseline:
    """First-order Markov chain over (interval, duration) events, with add-k smoothing.

    `fit` counts the first note's (pitch, duration) of every melody (the start distribution), the
    first event after it, and every event-to-event transition. `sample` draws a start note, then events
    from the smoothed transition rows; events that would leave `pitch_range` are excluded from a draw
    (the row is renormalized), so a long sample cannot drift off the keyboard. The vocabulary is the set
    of events seen in training: smoothing spreads mass over seen events only.

    Its samples match the training set's interval and duration statistics closely but not its
    pitch classes: a chain over intervals has no memory of the tonic, so it wanders out of key (on
    O'Neill's tunes its pitch-class JS distance is as large as uniform noise's).
    """

    k: float = 0.1
    pitch_range: tuple[int, int] = (48, 84)

    def __post_init__(self) -> None:
        self.vocabulary: list[Event] = []
        self.starts: list[tuple[int, int]] = []  # (pitch, duration) of first notes
        self.start_probabilities: FloatArray = np.zeros(0)
        self.transitions: FloatArray = np.zeros((0, 0))  # row i: P(next | event i); last row: after a start

    def fit(self, melodies: Iterable[MelodyLike]) -> MarkovBaseline:
        """Count starts and transitions over the melodies; returns self."""
        start_counts: Counter[tuple[int, int]] = Counter()
        sequences: list[list[Event]] = []
        for melody in melodies:
            if not melody.notes:
                continue
            _, duration, pitch = melody.notes[0]
            start_counts[(pitch, duration)] += 1
            sequences.append(events_of(melody.notes))
        if not start_counts:
            raise ValueError("a Markov baseline needs at least one melody with notes")
        self.vocabulary = sorted({event for events in sequences for event in events})
        index = {event: i for i, event in enumerate(self.vocabulary)}
        size = len(self.vocabulary)
        counts = np.zeros((size + 1, size), dtype=np.float64)  # row `size` is the start state
        for events in sequences:
            previous = size
            for event in events:
                counts[previous, index[event]] += 1
                previous = index[event]
        self.transitions = (counts + self.k) / (counts + self.k).sum(axis=1, keepdims=True) if size else counts
        self.starts = sorted(start_counts)
        totals = np.asarray([start_counts[start] for start in self.starts], dtype=np.float64)
        self.start_probabilities = totals / totals.sum()
        return self

    def sample(self, n_bars: int, meter: int, rng: np.random.Generator) -> tuple[Note, ...]:
        """Notes in C filling `n_bars` bars of `meter` quarters, played back to back from onset 0.

        Deterministic for a given generator state. The last note is shortened to end at the last bar line.
        """
        if not self.starts:
            raise ValueError("fit the baseline before sampling")
        total = n_bars * meter * 4
        low, high = self.pitch_range
        pitch, duration = self.starts[int(rng.choice(len(self.starts), p=self.start_probabilities))]
        notes: list[Note] = [(0, min(duration, total), pitch)]
        onset = duration
        state = len(self.vocabulary)
        intervals = np.asarray([event[0] for event in self.vocabulary], dtype=np.int64)
        while onset < total and self.vocabulary:
            row = self.transitions[state].copy()
            allowed = (pitch + intervals >= low) & (pitch + intervals <= high)
            row[~allowed] = 0.0
            if row.sum() <= 0:  # nothing keeps us in range: let the chain go where it will
                row = self.transitions[state].copy()
            state = int(rng.choice(len(self.vocabulary), p=row / row.sum()))
            interval, duration = self.vocabulary[state]
            pitch += interval
            notes.append((onset, min(duration, total - onset), pitch))
            onset += duration
        return tuple(notes)


# ---------------------------------------------------------------------------------------------------
# Memorization


class SharedRun(NamedTuple):
    """The longest run of a query's events found consecutively in a training melody.

    A tuple, so `length, source, index = memo.longest_shared_run(events)` works; the third field is
    named `melody_index` because a field called `index` would hide `tuple.index`.
    """

    length: int  # events; 0 when not even one event occurs in training
    source: str  # the training melody's source file ("" when length is 0)
    melody_index: int  # that melody's `index` inside its file (-1 when length is 0)


class MemorizationIndex:
    """Suffix automaton over the (interval, duration) events of every training melody.

    Built once: the training sequences are concatenated, each followed by its own separator symbol so
    no match spans two melodies, and fed to the standard online suffix-automaton construction (Blumer
    et al. 1985): at most 2N states and 3N transitions, amortized O(N) time for N training events.
    On the music21 corpus (870k events, 1.3M states) it builds in ~3 s and takes ~430 MB in CPython.
    Each state remembers the end of its first occurrence, so a match can be traced to the training
    melody that holds it.

    `longest_shared_run(events)` walks the automaton along the query, following suffix links on a
    mismatch (the matching-statistics walk), in O(len(events)) time independent of the training size.
    """

    def __init__(self, melodies: Iterable[tuple[str, int, Sequence[Event]]]) -> None:
        """Index (source, index, events) triples, e.g. `(m.source, m.index, events_of(m.notes))`."""
        self._symbols: dict[Event, int] = {}
        self._sources: list[tuple[str, int]] = []
        self._starts: list[int] = []  # position of each melody's first event in the concatenation
        # State arrays: longest string length, suffix link, transitions, end position of first occurrence.
        self._length: list[int] = [0]
        self._link: list[int] = [-1]
        self._next: list[dict[int, int]] = [{}]
        self._first_end: list[int] = [-1]
        self._last = 0
        position = 0
        for number, (source, index, events) in enumerate(melodies):
            self._sources.append((source, index))
            self._starts.append(position)
            for event in events:
                symbol = self._symbols.setdefault((int(event[0]), int(event[1])), len(self._symbols))
                self._extend(symbol, position)
                position += 1
            self._extend(-1 - number, position)  # a separator no query contains
            position += 1
        self.events = position - len(self._sources)

    @property
    def states(self) -> int:
        """Number of automaton states (at most twice the indexed length)."""
        return len(self._length)

    def _extend(self, symbol: int, position: int) -> None:
        """Append one symbol (the classic suffix-automaton `sa_extend`)."""
        length, link, nxt, first_end = self._length, self._link, self._next, self._first_end
        current = len(length)
        length.append(length[self._last] + 1)
        link.append(-1)
        nxt.append({})
        first_end.append(position)
        state = self._last
        while state != -1 and symbol not in nxt[state]:
            nxt[state][symbol] = current
            state = link[state]
        if state == -1:
            link[current] = 0
        else:
            target = nxt[state][symbol]
            if length[state] + 1 == length[target]:
                link[current] = target
            else:
                clone = len(length)
                length.append(length[state] + 1)
                link.append(link[target])
                nxt.append(dict(nxt[target]))
                first_end.append(first_end[target])  # the clone's strings first end where target's do
                while state != -1 and nxt[state].get(symbol) == target:
                    nxt[state][symbol] = clone
                    state = link[state]
                link[target] = clone
                link[current] = clone
        self._last = current

    def longest_shared_run(self, events: Sequence[Event]) -> SharedRun:
        """The longest run of consecutive query events occurring consecutively in one training melody.

        Ties go to the run found first along the query; its source is the earliest indexed melody that
        holds it.
        """
        return self.locate(events)[0]

    def locate(self, events: Sequence[Event]) -> tuple[SharedRun, int]:
        """`longest_shared_run` and the query position where that run starts (-1 when there is none)."""
        length, link, nxt = self._length, self._link, self._next
        state = 0
        matched = 0
        best = 0
        best_state = 0
        best_end = -1
        for position, event in enumerate(events):
            symbol = self._symbols.get((int(event[0]), int(event[1])))
            if symbol is None:  # never seen in training: every run restarts after it
                state = 0
                matched = 0
                continue
            while state != 0 and symbol not in nxt[state]:
                state = link[state]
                matched = length[state]
            if symbol in nxt[state]:
                state = nxt[state][symbol]
                matched += 1
            else:
                matched = 0
            if matched > best:
                best = matched
                best_state = state
                best_end = position
        if best == 0:
            return SharedRun(0, "", -1), -1
        start = self._first_end[best_state] - best + 1
        melody = bisect.bisect_right(self._starts, start) - 1
        source, index = self._sources[melody]
        return SharedRun(best, source, index), best_end - best + 1
