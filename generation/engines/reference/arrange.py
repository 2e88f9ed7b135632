"""Arrangement: a generated melody and a plan become an orchestrated score (pure, no torch, no Django).

The melody arrives in sixteenths with its tonic at C; each section transposes it to its own key. Harmony
is chosen by a Viterbi pass over diatonic triads (fit to the melody's notes on each chord slot, plus
functional-progression preferences, with the tonic forced at section starts and a V-I cadence at section
ends). The section's instruments are cast into roles (lead melody, countermelody, pads, bass, arpeggio,
hits), thinned or thickened by intensity, and every velocity follows the plan's intensity curve, so
loudness tracks the curve. Hit points get timpani/percussion strokes on their bar line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from generation.engines.instruments import INSTRUMENTS, fit_range, instrument
from generation.engines.score import CuePlan, KeyChange, Note, Score, Section, parts_of

CHORDS = {
    "major": {"I": (0, 4, 7), "ii": (2, 5, 9), "iii": (4, 7, 11), "IV": (5, 9, 0), "V": (7, 11, 2),
              "vi": (9, 0, 4)},
    "minor": {"i": (0, 3, 7), "iv": (5, 8, 0), "V": (7, 11, 2), "VI": (8, 0, 3), "III": (3, 7, 10),
              "VII": (10, 2, 5)},
}
TONIC = {"major": "I", "minor": "i"}
# Progressions film and common-practice music lean on (from -> to: bonus); anything else scores 0.
GOOD_MOVES = {
    ("I", "IV"): 1.0, ("I", "V"): 1.0, ("I", "vi"): 0.8, ("ii", "V"): 1.2, ("IV", "V"): 1.0, ("IV", "I"): 0.6,
    ("V", "I"): 1.5, ("V", "vi"): 0.8, ("vi", "IV"): 1.0, ("vi", "ii"): 0.8, ("iii", "vi"): 0.7, ("IV", "ii"): 0.5,
    ("i", "iv"): 1.0, ("i", "VI"): 1.0, ("i", "V"): 1.0, ("iv", "V"): 1.2, ("VI", "III"): 0.8, ("VI", "iv"): 0.8,
    ("III", "VII"): 0.8, ("VII", "i"): 0.8, ("V", "i"): 1.5, ("VI", "VII"): 0.9, ("VII", "III"): 0.7,
    ("iv", "i"): 0.6, ("VI", "V"): 0.9,
}
BASS_CAPABLE = ("contrabass", "cellos", "tuba", "trombone", "bassoon", "piano", "harp", "strings", "pizzicato")
ARPEGGIO_CAPABLE = ("harp", "piano", "celesta", "pizzicato")
HITS = ("timpani", "low_percussion", "cymbal")


@dataclass(frozen=True)
class Chord:
    """A chord slot: start and length in beats, roman numeral, pitch classes relative to the section tonic."""

    start: float
    length: float
    numeral: str
    pcs: tuple[int, ...]


@dataclass(frozen=True)
class Roles:
    """Which instrument plays what in a section."""

    lead: str
    counter: str | None
    pads: tuple[str, ...]
    bass: str | None
    arpeggio: str | None
    hits: tuple[str, ...]


def cast_roles(section: Section) -> Roles:
    """Assign the section's instruments to roles (lead first, as planned)."""
    names = [n for n in section.instruments if n in INSTRUMENTS]
    if not names:
        names = ["strings"]
    lead = names[0] if not instrument(names[0]).percussion else "strings"
    rest = [n for n in names[1:] if n != lead]
    hits = tuple(n for n in rest if n in HITS)
    rest = [n for n in rest if n not in HITS]
    bass = next((n for n in rest if n in BASS_CAPABLE[:5]), None) or next((n for n in rest if n in BASS_CAPABLE), None)
    rest = [n for n in rest if n != bass]
    arpeggio = next((n for n in rest if n in ARPEGGIO_CAPABLE), None)
    rest = [n for n in rest if n != arpeggio]
    sustained = [n for n in rest if instrument(n).sustained]
    pads = tuple(sustained[:2])
    counter = next((n for n in sustained[2:] + [n for n in rest if n not in sustained]), None)
    if counter is None and len(pads) == 2:
        counter = pads[1]
        pads = pads[:1]
    return Roles(lead, counter, pads, bass, arpeggio, hits)


def _slots(section: Section, meter: int, beat0: float) -> list[tuple[float, float]]:
    per_bar = 2 if meter == 4 and section.tempo < 110 else 1
    length = meter / per_bar
    return [(beat0 + i * length, length) for i in range(section.bars * per_bar)]


def harmonize(melody: Sequence[tuple[float, float, int]], slots: Sequence[tuple[float, float]], mode: str
              ) -> list[Chord]:
    """Viterbi over diatonic triads: fit the melody (beats, pitch classes relative to tonic), prefer good moves."""
    chords = CHORDS[mode]
    names = list(chords)
    tonic = TONIC[mode]
    fits = []
    for start, length in slots:
        end = start + length
        row = {}
        for name in names:
            score = 0.0
            for onset, duration, pc in melody:
                overlap = min(end, onset + duration) - max(start, onset)
                if overlap <= 0:
                    continue
                weight = overlap * (1.5 if abs(onset - start) < 1e-6 else 1.0)
                score += weight if pc % 12 in chords[name] else -0.6 * weight
            row[name] = score
        fits.append(row)
    n = len(slots)
    forced: dict[int, str] = {0: tonic, n - 1: tonic}
    if n >= 3:
        forced[n - 2] = "V"
    best: list[dict[str, float]] = []
    back: list[dict[str, str]] = []
    for i in range(n):
        options = [forced[i]] if i in forced else names
        row_best: dict[str, float] = {}
        row_back: dict[str, str] = {}
        for name in options:
            if i == 0:
                row_best[name] = fits[i][name]
                continue
            prev_name, prev_score = max(((p, s + GOOD_MOVES.get((p, name), 0.0) - (0.4 if p == name else 0.0))
                                         for p, s in best[-1].items()), key=lambda x: (x[1], x[0]))
            row_best[name] = prev_score + fits[i][name]
            row_back[name] = prev_name
        best.append(row_best)
        back.append(row_back)
    name = max(best[-1], key=lambda k: (best[-1][k], k))
    path = [name]
    for i in range(n - 1, 0, -1):
        name = back[i][name]
        path.append(name)
    path.reverse()
    return [Chord(start, length, nm, chords[nm]) for (start, length), nm in zip(slots, path, strict=True)]


def _velocity(section: Section, beat: float, beat0: float, meter: int, offset: int = 0) -> int:
    fraction = (beat - beat0) / max(1e-6, section.bars * meter)
    intensity = section.intensity_at(fraction)
    return max(1, min(127, round(28 + 92 * intensity) + offset))


def _register_shift(pitches: Sequence[int], tonic: int, lead: str) -> int:
    """Transposition (tonic or tonic - 12 ...) that centres the melody in the lead instrument's range."""
    inst = instrument(lead)
    centre = (inst.low + inst.high) / 2
    mean = sum(pitches) / len(pitches) if pitches else 72
    return min((tonic + 12 * k for k in range(-3, 3)), key=lambda s: (abs(mean + s - centre), s))


def arrange(plan: CuePlan, melody: Sequence[tuple[int, int, int]]) -> Score:
    """The orchestrated score of a plan and its melody (onset, duration in sixteenths; pitch with tonic C)."""
    notes: list[Note] = []
    keys: list[KeyChange] = []
    meter = plan.meter
    for section in plan.sections:
        beat0 = section.start_bar * meter
        beat1 = beat0 + section.bars * meter
        roles = cast_roles(section)
        keys.append(KeyChange(beat0, section.tonic, section.mode))
        mine = [(o / 4, d / 4, p) for o, d, p in melody if beat0 <= o / 4 < beat1]
        shift = _register_shift([p for _, _, p in mine], section.tonic, roles.lead)
        for onset, duration, pitch in mine:
            vel = _velocity(section, onset, beat0, meter)
            notes.append(Note("melody", roles.lead, fit_range(pitch + shift, roles.lead), onset, duration, vel))
        mid = (section.intensity_start + section.intensity_end) / 2
        if roles.counter and mid >= 0.45:
            for onset, duration, pitch in mine:
                target = fit_range(pitch + shift - 12, roles.counter)
                notes.append(Note("countermelody", roles.counter, target, onset, duration,
                                  _velocity(section, onset, beat0, meter, -10)))
        chords = harmonize([(o, d, p) for o, d, p in mine], _slots(section, meter, beat0), section.mode)
        for chord in chords:
            pcs = [(pc + section.tonic) % 12 for pc in chord.pcs]
            vel = _velocity(section, chord.start, beat0, meter, -14)
            for pad in roles.pads:
                base = fit_range(55 + (pcs[0] - 55) % 12, pad)
                voicing = sorted({fit_range(base + (pc - pcs[0]) % 12, pad) for pc in pcs})
                for pitch in voicing:
                    notes.append(Note("pad", pad, pitch, chord.start, chord.length, vel))
            if roles.bass:
                root = fit_range(36 + (pcs[0] - 36) % 12, roles.bass)
                if mid >= 0.65 and section.tempo >= 90:  # driving eighth-note ostinato
                    steps = int(chord.length * 2)
                    for i in range(steps):
                        notes.append(Note("bass", roles.bass, root, chord.start + i / 2, 0.45,
                                          _velocity(section, chord.start + i / 2, beat0, meter, -4 if i else 0)))
                else:
                    notes.append(Note("bass", roles.bass, root, chord.start, chord.length, vel + 6))
            if roles.arpeggio and mid >= 0.2:
                step = 0.25 if mid >= 0.7 else 0.5
                chord_tones = sorted(fit_range(60 + (pc - 60) % 12, roles.arpeggio) for pc in pcs)
                pattern = [*chord_tones, chord_tones[0] + 12, *reversed(chord_tones[1:])]
                for i in range(int(chord.length / step)):
                    pitch = fit_range(pattern[i % len(pattern)], roles.arpeggio)
                    notes.append(Note("arpeggio", roles.arpeggio, pitch, chord.start + i * step, step * 1.5,
                                      _velocity(section, chord.start + i * step, beat0, meter, -18)))
        if roles.hits and mid >= 0.7:  # pulse on downbeats in loud sections
            for bar in range(section.bars):
                beat = beat0 + bar * meter
                for hit in roles.hits:
                    if hit == "low_percussion" or (hit == "timpani" and bar % 2 == 0):
                        pitch = fit_range(36 + section.tonic, hit) if hit == "timpani" else fit_range(0, hit)
                        notes.append(Note("hits", hit, pitch, beat, 1.0, _velocity(section, beat, beat0, meter, -8)))
    # Hit points: a stroke on the bar line from every percussion instrument the cue uses (timpani if none).
    cue_hits = sorted({n for s in plan.sections for n in cast_roles(s).hits}) or ["timpani"]
    for point in plan.hit_points:
        section = plan.section_at_bar(point.bar)
        for name in cue_hits:
            pitch = fit_range(36 + section.tonic, name) if name == "timpani" else fit_range(0, name)
            notes.append(Note("hits", name, pitch, point.beat, 2.0, 118))
    length = plan.bars * meter
    notes = [n for n in notes if n.start < length]
    notes.sort(key=lambda n: (n.start, n.part, n.pitch))
    return Score(tuple(notes), plan.tempo_map(), meter, tuple(keys), float(length), title=plan.description[:80],
                 parts=parts_of(notes))
