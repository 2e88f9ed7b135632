"""Melody extraction from catalog assets: real corpus files of every format, synthetic edge cases, the cache."""

from __future__ import annotations

import hashlib
import itertools
import json
import pickle
from pathlib import Path
from typing import Any

import music21
import music21.midi.translate
import pytest

from generation.engines.reference import corpus
from generation.engines.reference.corpus import CorpusError, Melody

M21: Any = music21  # music21's own annotations are partial: the tests use it untyped
CORPUS = Path(music21.__path__[0]) / "corpus"


def asset(relative: str) -> tuple[bytes, str]:
    """A corpus file as the pipeline receives it: bytes plus a filename."""
    return (CORPUS / relative).read_bytes(), relative


def abc(text: str, filename: str = "tune.abc") -> list[Melody]:
    """Melodies of an ABC text."""
    return corpus.melodies_from_bytes(text.encode(), filename)


def assert_monophonic(melody: Melody) -> None:
    """Sorted onsets, positive durations, and every note ends before the next one starts."""
    for (onset, duration, _), (next_onset, _, _) in itertools.pairwise(melody.notes):
        assert duration > 0
        assert onset + duration <= next_onset
    assert melody.notes[-1][1] > 0
    assert melody.notes[0][0] >= 0


def soprano_pitches(relative: str) -> list[int]:
    """The soprano part's MIDI pitches, ties merged, read the ordinary music21 way (the test's reference)."""
    score: Any = M21.converter.parse(CORPUS / relative, forceSource=True)
    part = next(p for p in score.parts if "soprano" in (p.partName or "").lower())
    return [round(n.pitch.ps) for n in part.stripTies().flatten().notes]


# ---------------------------------------------------------------------------------------------------
# Real corpus files


def test_bach_chorale_yields_its_soprano_in_c_with_the_pickup_at_the_end_of_bar_zero() -> None:
    # BWV 1.6 lists a horn above the soprano; the soprano is the melody. F major, 4/4, a quarter pickup.
    (melody,) = corpus.melodies_from_bytes(*asset("bach/bwv1.6.mxl"))
    assert (melody.source, melody.index, melody.meter, melody.tonic, melody.mode) == (
        "bach/bwv1.6.mxl", 0, 4, 5, "major"
    )
    assert melody.notes[0] == (12, 4, 60)  # F4 pickup, moved down a fourth to C4, filling beat 4 of bar 0
    assert melody.notes[1][0] == 16  # the first full bar starts at bar 1
    assert [p for _, _, p in melody.notes] == [p - 5 for p in soprano_pitches("bach/bwv1.6.mxl")]
    assert_monophonic(melody)


def test_minor_chorale_is_transposed_the_short_way_to_c() -> None:
    # G minor: up a fourth (+5) moves the line less than down a fifth (-7).
    (melody,) = corpus.melodies_from_bytes(*asset("bach/bwv10.7.mxl"))
    assert (melody.meter, melody.tonic, melody.mode) == (4, 7, "minor")
    assert [p for _, _, p in melody.notes] == [p + 5 for p in soprano_pitches("bach/bwv10.7.mxl")]
    assert melody.notes[0] == (0, 8, 79)  # D5 half note, no pickup


def test_abc_file_with_many_tunes_yields_one_melody_per_tune() -> None:
    data, name = asset("oneills1850/0001-0050.abc")
    extraction = corpus.extract(data, name)
    melodies = extraction.melodies
    assert len(melodies) + sum(extraction.skipped.values()) == 50  # every tune accounted for
    assert len(melodies) >= 45
    assert [m.index for m in melodies] == sorted({m.index for m in melodies})
    assert {m.meter for m in melodies} <= {2, 3, 4}
    assert {m.mode for m in melodies} == {"major", "minor"}
    for melody in melodies:
        assert melody.source == name
        assert len(melody.notes) >= corpus.MIN_NOTES
        assert_monophonic(melody)


def test_jig_in_six_eight_counts_three_quarters_per_bar_and_keeps_its_eighth_note_pickup() -> None:
    (melody,) = corpus.melodies_from_bytes(*asset("ryansMammoth/LanigansBallJig.abc"))
    assert (melody.meter, melody.tonic, melody.mode) == (3, 4, "minor")
    assert melody.notes[0] == (10, 2, 62)  # F#4 eighth pickup at the end of bar 0, down a major third
    assert melody.notes[1][0] == 12


def test_humdrum_chorale_takes_the_soprano_spine() -> None:
    (melody,) = corpus.melodies_from_bytes(*asset("bach/bwv281.krn"))
    assert (melody.meter, melody.tonic, melody.mode) == (4, 5, "major")
    assert melody.notes[:4] == ((12, 4, 60), (16, 4, 64), (20, 4, 62), (24, 4, 64))  # f | a g a (soprano)
    assert_monophonic(melody)


def test_humdrum_meter_precheck_skips_exactly_what_the_parser_would() -> None:
    data, name = asset("palestrina/Agnus_01.krn")  # 4/2: eight quarters a bar
    assert corpus._humdrum_meter_skip(data.decode()) == corpus.SKIP_METER
    fast = corpus.extract(data, name)
    parsed = [corpus._melody(work, name, i) for i, work in enumerate(corpus._parse_works(data, name))]
    assert fast.melodies == ()
    assert dict(fast.skipped) == {corpus.SKIP_METER: 1}
    assert parsed == [corpus.SKIP_METER]
    assert corpus._humdrum_meter_skip("**kern\n*M3/4\n4c\n*-\n") is None
    assert corpus._humdrum_meter_skip("**kern\n*MX\n4c\n*-\n") is None  # not understood: parse it


def test_piano_score_reduces_to_the_skyline_of_the_right_hand() -> None:
    (melody,) = corpus.melodies_from_bytes(*asset("joplin/maple_leaf_rag.mxl"))
    assert (melody.meter, melody.tonic, melody.mode) == (2, 8, "major")  # 2/4, A-flat major
    assert_monophonic(melody)
    # An eighth-rest pickup bar, then bar 1: a 16th rest, A-flat 4, an E-flat octave, ... Up a major third.
    assert melody.notes[:3] == ((9, 1, 72), (10, 1, 79), (11, 1, 72))  # the octave's upper E-flat


def test_midi_asset_is_read_with_its_meter_key_and_top_voice() -> None:
    score = M21.stream.Score()
    upper, lower = M21.stream.Part(), M21.stream.Part()
    upper.append([M21.meter.TimeSignature("3/4"), M21.key.Key("D")])
    for pitch_name, length in [("D5", 1), ("F#5", 1), ("A5", 1), ("G5", 2), ("F#5", 1), ("E5", 1), ("D5", 1),
                               ("C#5", 1), ("D5", 3)]:
        upper.append(M21.note.Note(pitch_name, quarterLength=length))
    upper.append(M21.chord.Chord(["D4", "F#4", "A4"], quarterLength=3))
    lower.append([M21.meter.TimeSignature("3/4")])
    for _ in range(5):
        lower.append(M21.note.Note("D3", quarterLength=3))
    score.insert(0, upper)
    score.insert(0, lower)
    data = M21.midi.translate.streamToMidiFile(score).writestr()
    (melody,) = corpus.melodies_from_bytes(data, "cue.mid")
    assert (melody.meter, melody.tonic, melody.mode) == (3, 2, "major")
    assert [p for _, _, p in melody.notes] == [72, 76, 79, 77, 76, 74, 72, 71, 72, 67]  # down a tone; chord -> A
    assert melody.notes[-1] == (48, 12, 67)
    assert_monophonic(melody)


# ---------------------------------------------------------------------------------------------------
# Rules, on synthetic ABC


def test_ties_merge_grace_notes_vanish_chords_keep_their_top_and_triplets_round_to_sixteenths() -> None:
    (melody,) = abc("X:1\nM:4/4\nL:1/8\nK:G\nD2|G2A2 B2c2|d4-d4|{g}e2 [CEG]2 (3abc d2|B8|]\n")
    assert melody.notes == (
        (12, 4, 67), (16, 4, 72), (20, 4, 74), (24, 4, 76), (28, 4, 77),
        (32, 16, 79),  # d4-d4: one tied half + half
        (48, 4, 81),  # e2; the {g} grace note is gone
        (52, 4, 72),  # [CEG]2 -> G4 (+5)
        (56, 1, 86), (57, 2, 88), (59, 1, 77),  # (3abc: 4/3 16ths each, rounded on the grid
        (60, 4, 79), (64, 16, 76),
    )


@pytest.mark.parametrize(
    ("header", "expected_meter"),
    [("M:2/4", 2), ("M:3/4", 3), ("M:4/4", 4), ("M:C", 4), ("M:2/2", 4), ("M:6/8", 3), ("M:3/8", 3)],
)
def test_meters_count_quarter_notes_per_bar(header: str, expected_meter: int) -> None:
    (melody,) = abc(f"X:1\n{header}\nL:1/16\nK:C\n" + "CDEF GABc " * 4 + "|]\n")
    assert melody.meter == expected_meter


@pytest.mark.parametrize(
    ("header", "reason"),
    [("M:5/4", corpus.SKIP_METER), ("M:9/8", corpus.SKIP_METER), ("M:12/8", corpus.SKIP_METER),
     ("M:4/2", corpus.SKIP_METER), ("M:none", corpus.SKIP_NO_METER), ("", corpus.SKIP_NO_METER)],
)
def test_other_meters_skip_the_tune(header: str, reason: str) -> None:
    extraction = corpus.extract(f"X:1\n{header}\nL:1/4\nK:C\nCDEFG|ABcde|CDEFG|]\n".encode(), "t.abc")
    assert extraction.melodies == ()
    assert dict(extraction.skipped) == {reason: 1}


@pytest.mark.parametrize("change", ["[M:2/4]", "\nM:2/4\n"])
def test_a_meter_change_skips_the_tune(change: str) -> None:
    # music21's ABC reader drops both forms; without the check the tune would be read all in 3/4.
    extraction = corpus.extract(f"X:1\nM:3/4\nL:1/4\nK:C\nCDE|FGA|{change}Bc|de|CD|]\n".encode(), "t.abc")
    assert dict(extraction.skipped) == {corpus.SKIP_METER_CHANGE: 1}


def test_a_tunes_own_meter_overrides_the_file_header() -> None:
    text = "M:6/8\nL:1/8\n\nX:1\nK:C\nCDE FGA|Bcd efg|CDE FGA|]\n\nX:2\nM:2/4\nK:C\nCDEF|GABc|dcBA|G4|]\n"
    assert [m.meter for m in abc(text)] == [3, 2]


def test_three_eight_bars_pair_into_six_eight_with_the_pickup_before_the_first_pair() -> None:
    (melody,) = abc("X:1\nM:3/8\nL:1/8\nK:Am\nA|cBA|e2e|cBA|E3|ABc|d2d|]\n")
    assert (melody.meter, melody.tonic, melody.mode) == (3, 9, "minor")
    assert melody.notes[:2] == ((10, 2, 72), (12, 2, 75))


@pytest.mark.parametrize(
    ("key_field", "tonic", "mode", "first_pitch"),
    [("C", 0, "major", 60), ("G", 7, "major", 65), ("F", 5, "major", 55), ("F#", 6, "major", 54),
     ("Am", 9, "minor", 63), ("Ddor", 2, "minor", 58), ("Gmix", 7, "major", 65), ("Ephr", 4, "minor", 56)],
)
def test_key_field_sets_tonic_and_mode_and_the_tonic_moves_to_c_the_short_way(
    key_field: str, tonic: int, mode: str, first_pitch: int
) -> None:
    # The tune: C-natural 4, then the tonic over and over. In C the tonic is pitch class 0.
    root = {"C": "C", "G": "G", "F": "F", "F#": "F", "Am": "A", "Ddor": "D", "Gmix": "G", "Ephr": "E"}[key_field]
    body = f"=C {root} {root} {root} | {root}4 | {root} {root} {root} {root} | {root}4 |]"
    (melody,) = abc(f"X:1\nM:4/4\nL:1/4\nK:{key_field}\n{body}\n")
    assert (melody.tonic, melody.mode) == (tonic, mode)
    assert melody.notes[0][2] == first_pitch
    assert {p % 12 for _, _, p in melody.notes[1:]} == {0}
    assert abs(melody.notes[1][2] - 60) <= 6 or abs(melody.notes[1][2] - 72) <= 6


def test_accidentals_last_to_the_end_of_the_bar_and_a_minor_melody_under_a_bare_tonic_is_minor() -> None:
    # Essen songs write "K: G" for G minor and rely on accidentals carrying through the bar.
    (melody,) = abc("X:1\nM:4/4\nL:1/4\nK:G\nG_BcB|G_BdB|G2_B2|d4|]\n")
    assert [p for _, _, p in melody.notes] == [72, 75, 77, 75, 72, 75, 79, 75, 72, 75, 79]
    assert melody.mode == "minor"


def test_a_declared_old_abc_version_keeps_its_own_accidental_rule() -> None:
    (melody,) = abc("%abc-1.6\nX:1\nM:4/4\nL:1/4\nK:C\nC_EDE|C_EDE|C2_E2|C4|]\n")
    assert [p for _, _, p in melody.notes][:4] == [60, 63, 62, 64]


def test_first_voice_of_a_multi_voice_tune_is_the_melody() -> None:
    (melody,) = abc("X:1\nM:4/4\nL:1/4\nK:C\nV:1\nc d e f|g a b c'|c'4|]\nV:2\nC D E F|G A B c|C4|]\n")
    assert [p for _, _, p in melody.notes] == [72, 74, 76, 77, 79, 81, 83, 84, 84]


def test_rests_stay_as_gaps() -> None:
    (melody,) = abc("X:1\nM:4/4\nL:1/4\nK:C\nCzDz|EzFz|G2z2|GABc|]\n")
    assert [(on, d) for on, d, _ in melody.notes][:4] == [(0, 4), (8, 4), (16, 4), (24, 4)]


def test_tunes_with_fewer_than_eight_notes_are_skipped_and_the_others_keep_their_position() -> None:
    extraction = corpus.extract(
        b"X:1\nM:4/4\nL:1/4\nK:C\nCDEF|G4|]\n\nX:2\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|d4|]\n", "two.abc"
    )
    assert [m.index for m in extraction.melodies] == [1]
    assert dict(extraction.skipped) == {corpus.SKIP_TOO_SHORT: 1}


def test_skyline_drops_lower_notes_under_a_sounding_higher_one_and_cuts_a_lower_one_short() -> None:
    unmoved = corpus._Timeline((-float("inf"),), (0.0,), None)
    line = corpus._line(_FakeFlat([(0.0, 2.0, 72), (0.0, 1.0, 60), (1.0, 1.0, 64), (2.0, 2.0, 60),
                                   (3.0, 1.0, 67)]), unmoved)
    assert line == [[0, 8, 72], [8, 12, 60], [12, 16, 67]]


class _FakeFlat:
    """Just enough of a flattened music21 stream for `_line`: real notes at given offsets."""

    def __init__(self, notes: list[tuple[float, float, int]]) -> None:
        self._offsets: dict[int, float] = {}
        self.notes: list[Any] = []
        for offset, length, midi in notes:
            n = M21.note.Note(midi, quarterLength=length)
            self._offsets[id(n)] = offset
            self.notes.append(n)

    def elementOffset(self, element: Any) -> float:  # music21's name
        return self._offsets[id(element)]


# ---------------------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("filename", ["analysis.rntxt", "score.pdf", "README", "song.mus"])
def test_unsupported_suffix_is_refused_with_a_stable_code(filename: str) -> None:
    with pytest.raises(CorpusError) as raised:
        corpus.melodies_from_bytes(b"anything", filename)
    assert raised.value.code == "corpus_unsupported_format"


@pytest.mark.parametrize(
    ("filename", "data"),
    [("x.mxl", b"not a zip"), ("x.xml", b"<score-partwise"), ("x.mid", b"MThd garbage"), ("x.krn", b""),
     ("x.abc", b""), ("x.abc", b"\x00\xff\xfe garbage")],
)
def test_garbage_bytes_raise_parse_failed(filename: str, data: bytes) -> None:
    with pytest.raises(CorpusError) as raised:
        corpus.melodies_from_bytes(data, filename)
    assert raised.value.code == "corpus_parse_failed"


def test_readable_data_without_a_note_raises_no_notes() -> None:
    with pytest.raises(CorpusError) as raised:
        corpus.melodies_from_bytes(b"**kern\n*M4/4\n=1\n*-\n", "empty.krn")
    assert raised.value.code == "corpus_no_notes"


def test_corpus_error_survives_pickling_for_the_process_pool() -> None:
    error = pickle.loads(pickle.dumps(CorpusError("corpus_parse_failed", "why")))
    assert (error.code, error.message, str(error)) == ("corpus_parse_failed", "why", "corpus_parse_failed: why")


# ---------------------------------------------------------------------------------------------------
# The fast ABC reader against music21's own import


def _music21_abc_works(text: str) -> list[Any]:
    """Reference: music21's complete ABC import of each tune (re-barring, beaming, clefs included).

    Tunes the meter check refuses are refused here too: the comparison is about the translation.
    """
    handler: Any = M21.abcFormat.ABCFile().readstr(text)
    works: list[Any] = []
    for _, tune in sorted(handler.splitByReferenceNumber().items()):
        works.append(corpus._abc_meter_skip(tune) or M21.abcFormat.translate.abcToStreamScore(tune))
    return works


@pytest.mark.parametrize(
    "relative", ["ryansMammoth/LanigansBallJig.abc", "oneills1850/0001-0050.abc", "essenFolksong/kinder0.abc"]
)
def test_fast_abc_reader_yields_the_melodies_of_music21s_full_import(
    relative: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one difference allowed is music21's re-barring: it splits an overfull bar and gives the rest
    # a time signature of its own, which reads as a meter change (the fast reader ends the melody
    # there, or for a bar overfull by whole bars, keeps it). Every other melody is note for note the same.
    data, name = asset(relative)
    fast = corpus.extract(data, name)
    monkeypatch.setattr(corpus, "_abc_works", _music21_abc_works)
    full = corpus.extract(data, name)
    fast_by_index = {m.index: m for m in fast.melodies}
    assert [fast_by_index.get(m.index) for m in full.melodies] == list(full.melodies)
    rebarred = full.skipped.get(corpus.SKIP_METER_CHANGE, 0) - fast.skipped.get(corpus.SKIP_METER_CHANGE, 0)
    assert 0 <= len(fast.melodies) - len(full.melodies) <= rebarred
    assert len(full.melodies) > 0.8 * len(fast.melodies)


def test_melody_ends_before_a_bar_overfull_by_a_fraction_of_a_bar() -> None:
    # Bar 3 is a 16th too long (a transcription slip): the melody keeps bars 1-2.
    extraction = corpus.extract(b"X:1\nM:2/4\nL:1/16\nK:C\nC2D2E2F2|G2A2B2c2|d4e4f|g4a4|b8|]\n", "t.abc")
    (melody,) = extraction.melodies
    assert (extraction.truncated, extraction.realigned) == (1, 0)
    assert melody.notes[-1] == (14, 2, 72)
    # Overfull by exactly a bar is a missing bar line: nothing is lost.
    (whole,) = abc("X:1\nM:2/4\nL:1/16\nK:C\nC2D2E2F2|G2A2B2c2 d4e4|f4g4|a8|]\n")
    assert whole.notes[-1] == (32, 8, 81)


def test_a_full_bar_after_an_unmatched_short_bar_moves_on_to_the_next_bar_line() -> None:
    # A hornpipe: the A part ends short (its pickup completes the bar on the repeat) and the B part
    # starts on a downbeat, so the B part's first bar moves from 16th 30 to 32 (and every later bar).
    extraction = corpus.extract(b"X:1\nM:2/4\nL:1/16\nK:C\nG2|c2e2g2e2|d2f2a2f2|e2c2G2:|\n"
                                b"|:c4e4|g4e4|f4d4|c8|]\n", "hornpipe.abc")
    (melody,) = extraction.melodies
    assert (extraction.truncated, extraction.realigned) == (0, 1)
    assert melody.notes[0] == (6, 2, 67)  # the pickup ends bar 0
    assert melody.notes[9:12] == ((24, 2, 76), (26, 2, 72), (28, 2, 67))  # bar 3, short
    assert melody.notes[12:] == ((32, 4, 72), (36, 4, 76), (40, 4, 79), (44, 4, 76), (48, 4, 77), (52, 4, 74),
                                 (56, 8, 72))  # the B part from bar 4 on, each bar on its line
    # A section's short last bar and the next section's pickup make up one bar: nothing moves.
    (fine,) = abc("X:1\nM:2/4\nL:1/16\nK:C\nG|C2D2E2F2|G2A2B2c2|d4e3:|f|g4a4|b8|]\n")
    assert fine.notes[-1] == (40, 8, 83)


# ---------------------------------------------------------------------------------------------------
# Serialization and the cache


def test_melody_json_round_trips_and_rejects_malformed_input() -> None:
    (melody,) = corpus.melodies_from_bytes(*asset("ryansMammoth/LanigansBallJig.abc"))
    assert Melody.from_json(json.loads(json.dumps(melody.to_json()))) == melody
    with pytest.raises(ValueError, match="not a melody"):
        Melody.from_json({"source": "x"})
    with pytest.raises(ValueError, match="not a melody"):
        Melody.from_json({**melody.to_json(), "mode": "dorian"})


def test_cache_hit_returns_the_same_melodies_without_parsing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, name = asset("bach/bwv10.7.mxl")
    first = corpus.extract_cached(data, name, tmp_path)
    (entry,) = list(tmp_path.glob("*/*.json"))
    assert entry.name.startswith(hashlib.sha256(data).hexdigest())
    assert f".v{corpus.EXTRACTOR_VERSION}." in entry.name

    def no_parsing(*_: object) -> None:
        raise AssertionError("parsed despite a cache hit")

    monkeypatch.setattr(corpus, "_parse_works", no_parsing)
    assert corpus.extract_cached(data, name, tmp_path) == first
    renamed = corpus.extract_cached(data, "copy/of/bwv10.7.mxl", tmp_path)  # same bytes, another name
    assert [m.source for m in renamed] == ["copy/of/bwv10.7.mxl"]
    assert [m.notes for m in renamed] == [m.notes for m in first]
    assert not list(tmp_path.glob("*/.tmp-*"))  # no temporary file left behind


def test_damaged_cache_entry_is_redone_and_failures_are_cached_too(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data, name = asset("ryansMammoth/LanigansBallJig.abc")
    expected = corpus.extract_cached(data, name, tmp_path)
    (entry,) = list(tmp_path.glob("*/*.json"))
    entry.write_text('{"extractor_version": "1", "melo')  # torn by a crash of an older writer
    assert corpus.extract_cached(data, name, tmp_path) == expected
    assert json.loads(entry.read_text())["melodies"]

    garbage = b"<score-partwise"
    with pytest.raises(CorpusError):
        corpus.extract_cached(garbage, "bad.xml", tmp_path)
    monkeypatch.setattr(corpus, "_parse_works", lambda *_: pytest.fail("parsed a cached failure"))
    with pytest.raises(CorpusError) as raised:
        corpus.extract_cached(garbage, "bad.xml", tmp_path)
    assert raised.value.code == "corpus_parse_failed"


def test_extract_many_with_two_processes_keeps_input_order_and_matches_one_process(tmp_path: Path) -> None:
    items = [
        ("ryansMammoth/LanigansBallJig.abc", asset("ryansMammoth/LanigansBallJig.abc")[0]),
        ("notes.pdf", b"%PDF"),
        ("bach/bwv10.7.mxl", asset("bach/bwv10.7.mxl")[0]),
        ("broken.xml", b"<score-partwise"),
        ("bach/bwv281.krn", asset("bach/bwv281.krn")[0]),
        ("palestrina/Agnus_01.krn", asset("palestrina/Agnus_01.krn")[0]),
    ]
    parallel = corpus.extract_many(items, tmp_path / "a", processes=2)
    serial = corpus.extract_many(items, tmp_path / "b", processes=1)
    again = corpus.extract_many(items, tmp_path / "a", processes=2)  # all cache hits
    assert list(parallel) == [name for name, _ in items]
    for results in (serial, again):
        assert list(results) == list(parallel)
        for name in parallel:
            left, right = parallel[name], results[name]
            if isinstance(left, CorpusError):
                assert isinstance(right, CorpusError)
                assert left.code == right.code
            else:
                assert left == right
    assert isinstance(parallel["notes.pdf"], CorpusError)
    assert parallel["notes.pdf"].code == "corpus_unsupported_format"
    assert isinstance(parallel["broken.xml"], CorpusError)
    assert parallel["palestrina/Agnus_01.krn"] == []
    assert isinstance(parallel["bach/bwv10.7.mxl"], list)
    assert len(parallel["bach/bwv10.7.mxl"]) == 1


def test_extract_many_refuses_duplicate_filenames(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        corpus.extract_many([("a.abc", b""), ("a.abc", b"")], tmp_path)
