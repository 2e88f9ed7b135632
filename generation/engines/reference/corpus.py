"""Melodies from the symbolic assets of cleared catalog works: the training data of the reference composer.

Pure and Django-free (no torch either): `melodies_from_bytes(data, filename)` takes an asset as read
from storage and returns one `Melody` per work inside it (an ABC file holds many tunes). music21 is
imported only inside the parsing functions, so importing `Melody` stays cheap.

What a melody is, precisely:

- **Which line.** The first part named soprano/melody/cantus/superius/discantus, else the first part
  that has notes (Bach's chorale BWV 1.6 lists a horn above the soprano). Chords collapse to their top
  note and the line is reduced to its skyline: a note that starts while a higher one still sounds is
  dropped, a higher note that starts while a lower one sounds cuts it short. Grace notes are dropped,
  tied notes merged, rests kept as gaps, so `notes` never overlap.
- **Time.** Onsets and durations are counted in 16th notes and rounded to the nearest one (triplets
  land on the 16th grid; zero-length results are dropped). Bar lines fall every `meter * 4` 16ths
  from onset 0. A pickup is never dropped: it is placed at the end of bar 0, padded with silence at
  its start, so the first full bar begins at `meter * 4` (without a pickup the first full bar is bar 0).
  Every full bar starts on a bar line: a full bar after a short bar that was not made up (a repeat's
  short last bar, a first ending) moves on to the next bar line, and a melody ends before a bar
  overfull by a fraction of a bar (a transcription slip). See `_timeline`.
- **Meter** is the bar length in quarter notes of the first time signature: 2/4 -> 2, 3/4 -> 3,
  4/4 and 2/2 -> 4, 6/8 -> 3 (a compound bar is counted by its quarter-note length). 3/8 bars are
  paired and counted as one 6/8 bar (3). Anything else (5/4, 4/2, 9/8, 12/8, no time signature, or a
  later time signature of another bar length) skips the work: the training pipeline needs a fixed grid.
- **Key.** A `Key` object in the part (ABC `K:`, Humdrum `*G:`, MusicXML `<mode>`) gives the tonic
  and the mode (dorian, phrygian, aeolian and locrian count as minor; ionian, lydian and mixolydian
  as major), except that the notes may veto the mode: a melody whose (duration-weighted) other third
  outweighs the notated third more than `THIRD_VETO_RATIO` times takes the other mode. ABC's `K:G`
  means G major by default and the Essen songs give only the tonic, so without the veto ~500 of
  their minor tunes would be labelled major. A bare key signature gives a relative pair (G major /
  E minor) and Krumhansl-Schmuckler picks between the two; with neither, Krumhansl-Schmuckler picks
  among all 24 keys (`metrics.key_estimate`).
- **Transposition.** Pitches are transposed so the tonic is C, by whichever of the two candidate
  intervals (down by the tonic's pitch class, or up by its complement) is smaller, which is the one
  that moves the melody's mean pitch least; an F# tonic (a tritone either way) goes down.
- **ABC accidentals** last to the end of the bar (ABC 2.1) unless the file declares an older version.
- Works with fewer than `MIN_NOTES` notes are skipped; `Extraction.skipped` counts every reason.

`EXTRACTOR_VERSION` names these rules; change it whenever a rule changes so cached extractions are
redone.

Speed (music21 10.5, one core): ABC is read with music21's own tokenizer and note translation but
without the engraving passes its importer runs (re-barring, beaming, clef guessing), which took ~80%
of the time on the Essen collection; they change how notes are written, not which notes sound (the
one exception, re-barring an overfull bar with a time signature of its own, concerns the bars
`_timeline` ends a melody at). Humdrum files whose every meter the rules refuse (all of Palestrina)
are not parsed at all.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import importlib
import json
import math
import multiprocessing
import os
import re
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from generation.engines.reference.metrics import key_correlations, key_estimate

EXTRACTOR_VERSION = "2"
MIN_NOTES = 8
METERS = (2, 3, 4)
FORMATS: Mapping[str, str] = {
    ".krn": "humdrum",
    ".abc": "abc",
    ".mxl": "musicxml",
    ".xml": "musicxml",
    ".musicxml": "musicxml",
    ".mid": "midi",
    ".midi": "midi",
}
MELODY_PART_NAMES = ("soprano", "melody", "cantus", "superius", "discantus")
MINOR_MODES = frozenset({"minor", "dorian", "phrygian", "aeolian", "locrian"})
THIRD_VETO_RATIO = 2.0  # see `_key`

# Reasons a work inside a file yields no melody (counted in `Extraction.skipped`).
SKIP_NO_NOTES = "no_notes"
SKIP_NO_METER = "no_meter"
SKIP_METER = "meter_unsupported"
SKIP_METER_CHANGE = "meter_change"
SKIP_TOO_SHORT = "too_few_notes"
SKIP_PITCH_RANGE = "pitch_out_of_range"
SKIP_UNREADABLE = "work_unreadable"

_HUMDRUM_METER = re.compile(r"\*M(\d+)/(\d+)")
_ABC_VERSION = re.compile(r"%abc-(\d+)\.(\d+)")  # as music21's abcFormat.reAbcVersion

Note = tuple[int, int, int]  # (onset, duration, pitch): 16ths, 16ths, MIDI number in C


class CorpusError(Exception):
    """An asset that yields nothing: a stable `code` and a sentence saying why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)  # both in args, so the error pickles across processes
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass(frozen=True)
class Melody:
    """One work's top line, in C, on a 16th-note grid (see the module docstring for the exact rules)."""

    source: str  # the filename the asset was given under
    index: int  # 0-based position of the work inside the file (ABC tunes in reference-number order)
    meter: int  # quarter notes per bar: 2, 3 or 4
    tonic: int  # original tonic pitch class, 0 = C
    mode: str  # "major" | "minor"
    notes: tuple[Note, ...]  # (onset, duration, pitch), sorted, non-overlapping

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; notes as [onset, duration, pitch] lists."""
        return {
            "source": self.source,
            "index": self.index,
            "meter": self.meter,
            "tonic": self.tonic,
            "mode": self.mode,
            "notes": [list(note) for note in self.notes],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Melody:
        """The inverse of `to_json`; raises ValueError on a malformed dict."""
        try:
            notes = tuple((int(n[0]), int(n[1]), int(n[2])) for n in data["notes"])
            melody = cls(
                source=str(data["source"]),
                index=int(data["index"]),
                meter=int(data["meter"]),
                tonic=int(data["tonic"]),
                mode=str(data["mode"]),
                notes=notes,
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not a melody: {exc}") from exc
        if melody.mode not in ("major", "minor") or not 0 <= melody.tonic < 12:
            raise ValueError(f"not a melody: key {melody.tonic} {melody.mode}")
        return melody


@dataclass(frozen=True)
class Extraction:
    """Everything one asset yielded: its melodies and, per reason, how many works were skipped."""

    melodies: tuple[Melody, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)
    truncated: int = 0  # melodies that end early, at a bar overfull by a fraction of a bar
    realigned: int = 0  # melodies with a bar moved onto the grid after a short bar (see `_timeline`)


# ---------------------------------------------------------------------------------------------------
# Parsing


def _music21(module: str) -> Any:
    """A music21 module, imported on first use and typed Any (its annotations are partial)."""
    return importlib.import_module(f"music21.{module}")


def format_of(filename: str) -> str:
    """The music21 format for a filename's suffix; CorpusError `corpus_unsupported_format` otherwise."""
    suffix = PurePosixPath(filename).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise CorpusError(
            "corpus_unsupported_format",
            f"{suffix or 'no suffix'} is not a melody format (supported: {', '.join(sorted(FORMATS))})",
        )
    return fmt


def _decode(data: bytes) -> str:
    """Text assets are UTF-8 by convention; older ABC collections are Latin-1, which never fails."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _abc_text(text: str) -> str:
    """ABC that declares no version is read by the 2.1 standard: accidentals last to the end of the bar.

    music21 reads undeclared files as ABC 1.3, where `_B2B2` is B-flat then B-natural; the Essen,
    O'Neill and Ryan transcriptions (like staff notation) mean two B-flats. music21 looks for the
    version in the first 100 characters, so a declared version there is left alone.
    """
    if _ABC_VERSION.search(text[:100]):
        return text
    return "%abc-2.1\n" + text


def _abc_meter_skip(tune: Any) -> str | None:
    """The skip reason a tune's meter fields give before any translation, or None to translate it.

    The meter in force at the first note is the tune's (a file header's M: is overridden by the
    tune's own). A meter field after the first note is a meter change; music21 drops those (and reads
    an inline `[M:2/4]` as an empty chord), so without this check such tunes would be read on the wrong
    grid. Deciding here also spares translating tunes whose meter the rules refuse.
    """
    abc_format = _music21("abcFormat")
    meters: list[tuple[float | None, bool]] = []  # (bar length, None for "M:none"; after the first note?)
    seen_note = False
    for token in tune.tokens:
        if isinstance(token, abc_format.ABCChord) and str(token.src).startswith("[M:"):
            meter_field = abc_format.ABCMetadata(str(token.src)[1:-1])
            meter_field.preParse()
        elif isinstance(token, abc_format.ABCMetadata) and token.isMeter():
            meter_field = token
        else:
            seen_note = seen_note or isinstance(token, abc_format.ABCNote)
            continue
        signature = meter_field.getTimeSignatureObject()
        length = None if signature is None else float(signature.barDuration.quarterLength)
        meters.append((length, seen_note))
    before = [length for length, after in meters if not after]
    if not before or before[-1] is None:
        return SKIP_NO_METER
    if any(length != before[-1] for length, after in meters if after):
        return SKIP_METER_CHANGE
    return None if _bar_grid(before[-1]) in METERS else SKIP_METER


def _abc_works(text: str) -> list[Any]:
    """One music21 Part per ABC tune, or in its place a skip reason or the exception that stopped it.

    This is music21's `abcToStreamOpus`/`abcToStreamPart` (music21 10.5) minus `reBar`, `makeBeams`
    and `bestClef` (see the module docstring): 9.7 s -> 1.8 s for an Essen file of 313 tunes. Tunes
    are converted one by one, so one broken tune does not lose the file.
    """
    abc_format, stream, translate = _music21("abcFormat"), _music21("stream"), _music21("abcFormat.translate")
    handler: Any = abc_format.ABCFile().readstr(text)
    if handler.definesReferenceNumbers():
        tunes = [tune for _, tune in sorted(handler.splitByReferenceNumber().items())]
    else:
        tunes = [handler]
    works: list[Any] = []
    for tune in tunes:
        try:
            reason = _abc_meter_skip(tune)
            if reason is not None:
                works.append(reason)
                continue
            voices = tune.splitByVoice()
            # Like music21: with voices, collection 0 is the header and 1 the first voice.
            part_handler = voices[0] if len(voices) == 1 else voices[0] + voices[1]
            if part_handler.definesMeasures():
                merged = abc_format.mergeLeadingMetaData(part_handler.splitByMeasure())
            else:
                merged = [part_handler]
            use_measures = len(merged) > 1
            part = stream.Part()
            bars = 0
            number = 1
            transposition = 0
            for bar_handler in merged:
                target = stream.Measure() if use_measures and bar_handler.hasNotes() else part
                transposition, _ = translate.parseTokens(bar_handler, target, part, use_measures)
                if target is not part:
                    bars += 1
                    if bars == 1 and target.timeSignature is not None and target.barDurationProportion() < 1.0:
                        target.padAsAnacrusis()
                        target.number = 0
                    else:
                        target.number = number
                        number += 1
                    part.coreAppend(target)
            part.coreElementsChanged()
            if transposition:
                part.transpose(transposition, inPlace=True)
            works.append(part)
        except Exception as exc:  # music21 raises anything on malformed tunes
            works.append(exc)
    return works


def _parse_works(data: bytes, filename: str) -> list[Any]:
    """The works of an asset as music21 streams (Score or Part), or a skip reason or exception each."""
    fmt = format_of(filename)
    try:
        if fmt == "abc":
            return _abc_works(_abc_text(_decode(data)))
        converter = _music21("converter")

        # A file of the right suffix: music21 needs a path for compressed MusicXML and MIDI anyway, and
        # parsing a file with forceSource/storePickle off never reads or writes music21's pickle cache.
        with tempfile.TemporaryDirectory(prefix="clearcue-corpus-") as tmp:
            path = Path(tmp) / ("asset" + PurePosixPath(filename).suffix.lower())
            path.write_bytes(data)
            conv = converter.Converter()
            conv.parseFile(path, format=fmt, forceSource=True, storePickle=False)
            parsed: Any = conv.stream
    except CorpusError:
        raise
    except Exception as exc:  # music21 raises anything on malformed input
        raise CorpusError("corpus_parse_failed", f"music21 cannot read this {fmt} data: {exc!r}"[:500]) from exc
    if isinstance(parsed, _music21("stream").Opus):
        return list(parsed.scores)
    return [parsed]


# ---------------------------------------------------------------------------------------------------
# Extraction


def _melody_part(work: Any) -> Any:
    """The part carrying the melody: a soprano/melody-named one, else the first with notes."""
    parts = list(getattr(work, "parts", []) or [])
    if not parts:
        return work
    with_notes = [part for part in parts if part.recurse().notes.first() is not None]
    for part in with_notes:
        name = f"{part.partName or ''} {part.id}".lower()
        if any(word in name for word in MELODY_PART_NAMES):
            return part
    return with_notes[0] if with_notes else parts[0]


def _sixteenths(quarters: float) -> int:
    """Quarter-note offset to the nearest 16th (halves round up, deterministically unlike round())."""
    return math.floor(quarters * 4 + 0.5)


@dataclass(frozen=True)
class _Timeline:
    """How notated offsets (quarters) map onto the melody's bar-line grid."""

    starts: tuple[float, ...]  # notated offsets where a new displacement begins (the first is -inf)
    moves: tuple[float, ...]  # quarters added to every offset from that start on
    cut: float | None  # notated offset of the first overfull bar: nothing from there on is kept

    def place(self, offset: float) -> float:
        """The grid position (quarters) of a notated offset."""
        return offset + self.moves[bisect.bisect_right(self.starts, offset + 1e-6) - 1]

    @property
    def realigned(self) -> bool:
        """Whether a bar had to be moved onto the grid (beyond the pickup shift)."""
        return len(self.moves) > 1


def _timeline(part: Any, notated: float, grid: float) -> _Timeline:
    """Put every full bar on a bar line, counting bars of `notated` quarters (`grid` for the first).

    - The pickup: everything moves so the first full bar starts on a bar line of `grid` (a 3/8 pickup
      fills the end of a 6/8 bar 0).
    - A full bar that would start off the grid moves on to the next bar line, leaving silence: a
      short bar before it was not made up by the next one. Partial bars that do pair up (a section's
      short last bar, then the next section's pickup) need nothing. The usual cause is a repeat: a
      hornpipe's A part ends short because its pickup completes the bar when it repeats, and its B
      part starts on a downbeat; or a short first ending, written out before the second.
    - A bar overfull by a fraction of a bar is a transcription slip (O'Neill's first tune has a 2/4
      bar with an extra 16th): the melody ends where that bar starts. Overfull by whole bars (a
      missing bar line) is fine.
    """
    stream = _music21("stream")
    measures = [
        (float(measure.getOffsetBySite(part)), float(measure.highestTime))
        for measure in part.getElementsByClass(stream.Measure)
    ]
    shift = next(((-start) % grid for start, length in measures if length >= notated - 1e-6), 0.0)
    starts, moves = [-math.inf], [shift]
    for start, length in measures:
        placed = start + moves[-1]
        if length > notated + 1e-6 and not _whole(length / notated):
            return _Timeline(tuple(starts), tuple(moves), start)
        if length >= notated - 1e-6 and not _whole(placed / notated):
            starts.append(start)
            moves.append(moves[-1] + math.ceil(placed / notated) * notated - placed)
    return _Timeline(tuple(starts), tuple(moves), None)


def _whole(value: float) -> bool:
    """Whether a float is (up to rounding) an integer."""
    return abs(value - round(value)) < 1e-6


def _line(flat: Any, timeline: _Timeline) -> list[list[int]]:
    """The monophonic top line of a flattened part: [onset, end, pitch] in 16ths, sorted by onset."""
    chord, harmony, note = _music21("chord"), _music21("harmony"), _music21("note")

    merged: list[list[int]] = []
    last_of_pitch: dict[int, int] = {}
    for element in flat.notes:
        if isinstance(element, harmony.Harmony) or element.duration.isGrace:
            continue  # chord symbols are annotations; grace notes take no time
        if isinstance(element, chord.Chord):
            pitched = [n for n in element.notes if hasattr(n, "pitch")]
            if not pitched:
                continue
            top = max(pitched, key=lambda n: n.pitch.ps)
            pitch_value, tie = top.pitch.ps, top.tie or element.tie
        elif isinstance(element, note.Note):
            pitch_value, tie = element.pitch.ps, element.tie
        else:
            continue  # unpitched percussion
        notated = float(flat.elementOffset(element))
        if timeline.cut is not None and notated >= timeline.cut - 1e-6:
            break  # notes come in offset order: the rest lie past the overfull bar
        offset = timeline.place(notated)
        onset = _sixteenths(offset)
        end = _sixteenths(offset + float(element.duration.quarterLength))
        if timeline.cut is not None:
            end = min(end, _sixteenths(timeline.place(timeline.cut)))
        if end <= onset:
            continue
        pitch = round(pitch_value)
        previous = last_of_pitch.get(pitch)
        if (
            tie is not None
            and tie.type in ("stop", "continue")
            and previous is not None
            and merged[previous][1] == onset
        ):
            merged[previous][1] = end  # the tied continuation lengthens the note it continues
            continue
        last_of_pitch[pitch] = len(merged)
        merged.append([onset, end, pitch])
    merged.sort(key=lambda n: (n[0], -n[2], -n[1]))
    line: list[list[int]] = []
    for onset, end, pitch in merged:
        if line and onset < line[-1][1]:
            if pitch <= line[-1][2]:
                continue  # starts under a sounding higher (or equal) note: hidden
            line[-1][1] = onset  # a higher note cuts the sounding one short (onsets differ here)
        line.append([onset, end, pitch])
    return line


def _meter(flat: Any) -> tuple[int, float, float] | str:
    """(meter, notated bar length, grid length) in quarters, or the skip reason."""
    meter = _music21("meter")

    signatures = list(flat.getElementsByClass(meter.TimeSignature))
    if not signatures:
        return SKIP_NO_METER
    notated = float(signatures[0].barDuration.quarterLength)
    if any(abs(float(ts.barDuration.quarterLength) - notated) > 1e-6 for ts in signatures[1:]):
        return SKIP_METER_CHANGE
    grid = _bar_grid(notated)
    if grid not in METERS:
        return SKIP_METER
    return int(grid), notated, grid


def _key(flat: Any, line: Sequence[Sequence[int]]) -> tuple[int, str]:
    """Tonic pitch class and mode: the notated Key, else a key signature's relative pair, else K-S."""
    key = _music21("key")

    signature = flat.getElementsByClass(key.KeySignature).first()
    weighted = [(pitch, end - onset) for onset, end, pitch in line]
    if isinstance(signature, key.Key):
        tonic = int(signature.tonic.pitchClass)
        mode = "minor" if str(signature.mode).lower() in MINOR_MODES else "major"
        # ABC's K: names a mode only when it is not major (the Essen songs give just the tonic), so the
        # notes get a veto: a melody that dwells on the other third far more than on the notated one
        # is in the other mode.
        thirds = {"major": 0.0, "minor": 0.0}
        for pitch, weight in weighted:
            interval = (pitch - tonic) % 12
            if interval in (3, 4):
                thirds["minor" if interval == 3 else "major"] += weight
        other = "major" if mode == "minor" else "minor"
        if thirds[other] > THIRD_VETO_RATIO * thirds[mode]:
            mode = other
        return tonic, mode
    if signature is not None:
        major = (int(signature.sharps) * 7) % 12
        minor = (major + 9) % 12
        histogram = [0.0] * 12
        for pitch, weight in weighted:
            histogram[pitch % 12] += weight
        corr = key_correlations(histogram)
        return (minor, "minor") if corr[1, minor] > corr[0, major] else (major, "major")
    tonic, mode, _ = key_estimate(weighted)
    return tonic, mode


def _transposition(tonic: int) -> int:
    """Semitones that move `tonic` to C: the smaller of down by the tonic and up by its complement."""
    down = -(tonic % 12)
    up = down + 12
    return up if up < -down else down


def _melody(work: Any, filename: str, index: int) -> tuple[Melody, _Timeline] | str:
    """The melody of one work and how its bars were put on the grid, or the reason it has none."""
    part = _melody_part(work)
    flat = part.flatten()
    if flat.notes.first() is None:
        return SKIP_NO_NOTES
    found = _meter(flat)
    if isinstance(found, str):
        return found
    meter, notated, grid = found
    timeline = _timeline(part, notated, grid)
    line = _line(flat, timeline)
    if len(line) < MIN_NOTES:
        return SKIP_TOO_SHORT
    tonic, mode = _key(flat, line)
    semitones = _transposition(tonic)
    notes = tuple((onset, end - onset, pitch + semitones) for onset, end, pitch in line)
    if any(not 0 <= pitch <= 127 for _, _, pitch in notes):
        return SKIP_PITCH_RANGE
    return Melody(source=filename, index=index, meter=meter, tonic=tonic, mode=mode, notes=notes), timeline


def _bar_grid(notated: float) -> float:
    """The bar length the melody is counted in: a 3/8 bar pairs with the next into one 6/8 bar."""
    return 3.0 if abs(notated - 1.5) < 1e-6 else notated


def _humdrum_meter_skip(text: str) -> str | None:
    """The skip reason when every `*M` meter of a Humdrum file is one the rules refuse, else None.

    Answers from the text alone, before parsing: the Palestrina masses (1,318 files, all in 4/2 or
    2/1) would otherwise cost ~0.2 s each to be thrown away. Any meter token it does not understand,
    or a file without one, goes to the parser, which then decides as for every other format.
    """
    lengths: set[float] = set()
    for line in text.splitlines():
        if not line.startswith("*") or line.startswith("**"):
            continue
        for token in line.split("\t"):
            if token.startswith("*M") and not token.startswith("*MM"):  # *MM is a tempo
                match = _HUMDRUM_METER.fullmatch(token)
                if match is None or int(match[2]) == 0:
                    return None
                lengths.add(4 * int(match[1]) / int(match[2]))
    if not lengths or any(_bar_grid(length) in METERS for length in lengths):
        return None
    return SKIP_METER_CHANGE if len(lengths) > 1 else SKIP_METER


def extract(data: bytes, filename: str) -> Extraction:
    """Melodies and skip counts of one asset; CorpusError when it cannot be read or holds no notes."""
    if format_of(filename) == "humdrum":
        reason = _humdrum_meter_skip(_decode(data))
        if reason is not None:
            return Extraction((), {reason: 1})
    works = _parse_works(data, filename)
    melodies: list[Melody] = []
    skipped: Counter[str] = Counter()
    readable = 0
    truncated = realigned = 0
    for index, work in enumerate(works):
        if isinstance(work, Exception):
            skipped[SKIP_UNREADABLE] += 1
            continue
        readable += 1
        if isinstance(work, str):  # skipped by a reader before translation
            skipped[work] += 1
            continue
        result = _melody(work, filename, index)
        if isinstance(result, str):
            skipped[result] += 1
        else:
            melody, timeline = result
            melodies.append(melody)
            truncated += timeline.cut is not None
            realigned += timeline.realigned
    if not readable:
        first = next((work for work in works if isinstance(work, Exception)), None)
        raise CorpusError("corpus_parse_failed", f"music21 read no work from this data: {first!r}"[:500])
    if skipped[SKIP_NO_NOTES] == readable:
        raise CorpusError("corpus_no_notes", f"none of the {readable} works in this data has a note")
    return Extraction(tuple(melodies), dict(sorted(skipped.items())), truncated, realigned)


def melodies_from_bytes(data: bytes, filename: str) -> list[Melody]:
    """One melody per usable work in the asset; CorpusError for unreadable or unsupported input."""
    return list(extract(data, filename).melodies)


# ---------------------------------------------------------------------------------------------------
# Cache


def _cache_path(data: bytes, filename: str, cache_dir: Path) -> Path:
    """Keyed by content, format (the same bytes read as another format differ) and extractor version."""
    digest = hashlib.sha256(data).hexdigest()
    return cache_dir / digest[:2] / f"{digest}.{format_of(filename)}.v{EXTRACTOR_VERSION}.json"


def _read_cache(path: Path, filename: str) -> Extraction | CorpusError | None:
    """The cached outcome for this content, renamed to `filename`; None on a miss or a damaged entry."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        if payload.get("extractor_version") != EXTRACTOR_VERSION:
            return None
        if "error" in payload:
            return CorpusError(str(payload["error"]["code"]), str(payload["error"]["message"]))
        melodies = tuple(replace(Melody.from_json(m), source=filename) for m in payload["melodies"])
        skipped = {str(k): int(v) for k, v in payload["skipped"].items()}
        return Extraction(melodies, skipped, int(payload["truncated"]), int(payload["realigned"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # missing, half-written by a crashed older writer, or from another layout: redo


def _write_cache(path: Path, outcome: Extraction | CorpusError) -> None:
    """Write atomically: a temporary file in the same directory, then rename over the entry."""
    if isinstance(outcome, CorpusError):
        payload: dict[str, Any] = {
            "extractor_version": EXTRACTOR_VERSION,
            "error": {"code": outcome.code, "message": outcome.message},
        }
    else:
        payload = {
            "extractor_version": EXTRACTOR_VERSION,
            "melodies": [melody.to_json() for melody in outcome.melodies],
            "skipped": dict(outcome.skipped),
            "truncated": outcome.truncated,
            "realigned": outcome.realigned,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, separators=(",", ":"))
        os.replace(tmp, path)  # readers see the old entry or the whole new one, never a torn file
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def extract_cached_detailed(data: bytes, filename: str, cache_dir: Path) -> Extraction:
    """`extract` through the on-disk cache; parse failures are cached too (same bytes, same failure)."""
    path = _cache_path(data, filename, cache_dir)  # raises corpus_unsupported_format before any I/O
    outcome = _read_cache(path, filename)
    if outcome is None:
        try:
            outcome = extract(data, filename)
        except CorpusError as exc:
            outcome = exc
        _write_cache(path, outcome)
    if isinstance(outcome, CorpusError):
        raise outcome
    return outcome


def extract_cached(data: bytes, filename: str, cache_dir: Path) -> list[Melody]:
    """`melodies_from_bytes` through a cache keyed by sha256(data), format and EXTRACTOR_VERSION."""
    return list(extract_cached_detailed(data, filename, cache_dir).melodies)


# ---------------------------------------------------------------------------------------------------
# Many assets


def _extract_job(job: tuple[int, str, bytes, str]) -> tuple[int, Extraction | CorpusError]:
    """Worker body: one asset through the cache (module-level so it pickles)."""
    position, filename, data, cache_dir = job
    try:
        return position, extract_cached_detailed(data, filename, Path(cache_dir))
    except CorpusError as exc:
        return position, exc


def extract_many_detailed(
    items: Sequence[tuple[str, bytes]], cache_dir: Path, processes: int = 2
) -> dict[str, Extraction | CorpusError]:
    """Extract (filename, data) assets with a process pool; results keyed by filename, in input order.

    Cache hits are answered in this process; only misses go to the pool, largest first so one big file
    does not finish alone at the end. Workers are spawned (not forked) because the callers are Celery
    workers and scripts with threads; each worker is replaced after 100 assets to bound music21's
    memory growth.
    """
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
        raise ValueError(f"filenames must be unique: {duplicates[:5]}")
    results: dict[int, Extraction | CorpusError] = {}
    misses: list[tuple[int, str, bytes, str]] = []
    for position, (name, data) in enumerate(items):
        try:
            cached = _read_cache(_cache_path(data, name, cache_dir), name)
        except CorpusError as exc:
            cached = exc
        if cached is None:
            misses.append((position, name, data, str(cache_dir)))
        else:
            results[position] = cached
    misses.sort(key=lambda job: (-len(job[2]), job[0]))
    if processes <= 1 or len(misses) <= 1:
        results.update(_extract_job(job) for job in misses)
    else:
        context = multiprocessing.get_context("spawn")
        with context.Pool(processes=processes, maxtasksperchild=100) as pool:
            results.update(pool.imap_unordered(_extract_job, misses, chunksize=1))
    return {names[position]: results[position] for position in range(len(items))}


def extract_many(
    items: Sequence[tuple[str, bytes]], cache_dir: Path, processes: int = 2
) -> dict[str, list[Melody] | CorpusError]:
    """Melodies (or the CorpusError) of every (filename, data) asset, in input order, via the cache."""
    return {
        name: outcome if isinstance(outcome, CorpusError) else list(outcome.melodies)
        for name, outcome in extract_many_detailed(items, cache_dir, processes).items()
    }
