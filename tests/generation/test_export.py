"""MIDI and MusicXML export: what we write is read back the same by our reader and by music21."""

from __future__ import annotations

import time

import music21
import pytest

from generation.engines import export
from generation.engines.instruments import INSTRUMENTS
from generation.engines.score import KeyChange, Note, Score, TempoChange, TempoMap

PARTS = (("melody", "violins"), ("bass", "cellos"), ("hits", "low_percussion"), ("crash", "cymbal"))


def small_score() -> Score:
    """Three bars of 4/4: two melodic parts, two percussion parts, a tempo change and a key change at bar 3."""
    notes = (
        # melody: the C5 at beat 1.5 is held over the bar line into bar 2; Eb5 is spelled in Eb major
        Note("melody", "violins", 69, 0.0, 1.5, 96),
        Note("melody", "violins", 72, 1.5, 3.0, 96),
        Note("melody", "violins", 74, 5.0, 1.0, 90),
        Note("melody", "violins", 75, 8.0, 2.0, 100),
        Note("melody", "violins", 70, 10.0, 2.0, 100),
        # bass: a chord, then single notes
        Note("bass", "cellos", 50, 0.0, 4.0, 70),
        Note("bass", "cellos", 57, 0.0, 4.0, 70),
        Note("bass", "cellos", 43, 4.0, 4.0, 72),
        Note("bass", "cellos", 51, 8.0, 4.0, 75),
        Note("hits", "low_percussion", 36, 0.0, 1.0, 110),
        Note("hits", "low_percussion", 36, 4.0, 1.0, 110),
        Note("hits", "low_percussion", 36, 8.0, 1.0, 120),
        Note("crash", "cymbal", 49, 8.0, 2.0, 100),
    )
    return Score(notes=notes, tempo=TempoMap((TempoChange(0.0, 120.0), TempoChange(8.0, 90.0))), meter=4,
                 keys=(KeyChange(0.0, 2, "minor"), KeyChange(8.0, 3, "major")), length_beats=12.0,
                 title="Test cue", parts=PARTS)


def parse(data: bytes, fmt: str) -> music21.stream.Score:
    """music21's reading of MIDI or MusicXML bytes."""
    parsed = music21.converter.parseData(data, format=fmt)
    assert isinstance(parsed, music21.stream.Score)
    return parsed


def expected_midi_notes(score: Score) -> list[tuple[int, int, float, float, int]]:
    channels = export.midi_channels(export.export_parts(score))
    out = []
    for n in score.notes:
        inst = INSTRUMENTS[n.instrument]
        out.append((channels[n.instrument], inst.gm_drum_key if inst.percussion else n.pitch, n.start, n.duration,
                    n.velocity))
    return sorted(out, key=lambda t: (t[2], t[0], t[1]))


# ---------------------------------------------------------------------------------------------- MIDI


def test_midi_is_a_type_1_file_with_a_conductor_track_and_one_track_per_part() -> None:
    data = export.to_midi(small_score())
    contents = export.read_midi(data)
    assert data[:4] == b"MThd"
    assert contents.format == 1
    assert contents.ticks_per_quarter == 480
    assert contents.track_names == ("Test cue", "Violins - melody", "Violoncellos - bass",
                                    "Low Percussion (taiko) - hits", "Suspended Cymbal - crash")
    assert contents.end_beats == 12.0


def test_midi_notes_round_trip_through_our_reader() -> None:
    score = small_score()
    got = sorted(export.read_midi_notes(export.to_midi(score)), key=lambda t: (t[2], t[0], t[1]))
    assert got == expected_midi_notes(score)


def test_midi_carries_tempo_map_meter_and_key_signatures() -> None:
    contents = export.read_midi(export.to_midi(small_score()))
    assert [beat for beat, _ in contents.tempos] == [0.0, 8.0]
    assert [bpm for _, bpm in contents.tempos] == pytest.approx([120.0, 90.0], abs=1e-3)
    assert contents.time_signatures == ((0.0, 4, 4),)
    assert contents.key_signatures == ((0.0, -1, "minor"), (8.0, -3, "major"))  # D minor, then Eb major


def test_midi_programs_pan_and_drum_channel() -> None:
    contents = export.read_midi(export.to_midi(small_score()))
    assert contents.programs == ((1, 0, INSTRUMENTS["violins"].gm_program), (2, 1, INSTRUMENTS["cellos"].gm_program))
    pans = {(track, channel): value for track, channel, cc, value in contents.controllers if cc == 10}
    assert pans == {(1, 0): 35, (2, 1): 83, (3, 9): 64}  # violins left, cellos right; one pan for channel 10
    drums = [n for n in contents.notes if n.track in (3, 4)]
    assert {n.channel for n in drums} == {export.DRUM_CHANNEL}
    assert sorted({n.pitch for n in drums}) == [35, 49]  # their GM drum keys, not the score pitches


def test_midi_round_trips_through_music21() -> None:
    score = small_score()
    data = export.to_midi(score)

    # music21's low-level reader: channels are 1-based there, so percussion is channel 10.
    midi_file = music21.midi.MidiFile()
    midi_file.readstr(data)
    assert midi_file.ticksPerQuarterNote == 480
    events = [e for track in midi_file.tracks for e in track.events if not e.isDeltaTime()]
    programs = {(e.channel, e.data) for e in events if e.type == music21.midi.ChannelVoiceMessages.PROGRAM_CHANGE}
    assert programs == {(1, 40), (2, 42)}
    drum_ons = [e for e in events if e.isNoteOn() and e.channel == 10]
    assert sorted(int(e.pitch or 0) for e in drum_ons) == [35, 35, 35, 49]

    # music21's score view: pitches, onsets and durations in beats, and the tempo marks.
    parsed = parse(data, "midi")
    assert len(parsed.parts) == 4
    melody = parsed.parts[0].stripTies().flatten().getElementsByClass(music21.note.Note)
    assert [(float(n.offset), float(n.quarterLength), n.pitch.midi) for n in melody] == [
        (0.0, 1.5, 69), (1.5, 3.0, 72), (5.0, 1.0, 74), (8.0, 2.0, 75), (10.0, 2.0, 70)]
    bass = parsed.parts[1].stripTies().flatten().notes
    assert [(float(n.offset), float(n.quarterLength), sorted(p.midi for p in n.pitches)) for n in bass] == [
        (0.0, 4.0, [50, 57]), (4.0, 4.0, [43]), (8.0, 4.0, [51])]
    marks = parsed.flatten().getElementsByClass(music21.tempo.MetronomeMark)
    assert sorted({(float(m.offset), round(m.number)) for m in marks}) == [(0.0, 120), (8.0, 90)]


def test_melodic_channels_skip_the_drum_channel() -> None:
    melodic = [name for name, inst in INSTRUMENTS.items() if not inst.percussion][:12]
    parts = [("p", name) for name in melodic] + [("hits", "low_percussion"), ("crash", "cymbal")]
    channels = export.midi_channels(parts)
    assert [channels[name] for name in melodic] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12]
    assert channels["low_percussion"] == channels["cymbal"] == 9


def test_parts_sharing_an_instrument_share_its_channel() -> None:
    assert export.midi_channels([("melody", "violins"), ("harmony", "violins"), ("bass", "cellos")]) == {
        "violins": 0, "cellos": 1}


def test_a_repeated_key_on_one_channel_releases_before_it_is_struck_again() -> None:
    # Two parts on the same instrument overlap on E4: a MIDI note-off would silence both, so the first
    # note ends where the second begins.
    notes = (Note("melody", "flute", 64, 0.0, 2.0, 80), Note("counter", "flute", 64, 1.0, 2.0, 80))
    score = Score(notes, TempoMap(), 4, (KeyChange(0.0, 0, "major"),), 4.0)
    got = sorted(export.read_midi_notes(export.to_midi(score)))
    assert got == [(0, 64, 0.0, 1.0, 80), (0, 64, 1.0, 2.0, 80)]


def test_tail_beats_extend_the_end_of_track() -> None:
    score = small_score()
    assert export.read_midi(export.to_midi(score, tail_beats=3.0)).end_beats == 15.0
    assert export.read_midi_notes(export.to_midi(score, tail_beats=3.0)) == export.read_midi_notes(
        export.to_midi(score))


def test_midi_bytes_are_deterministic() -> None:
    assert export.to_midi(small_score()) == export.to_midi(small_score())


def test_reader_rejects_bytes_that_are_not_midi() -> None:
    with pytest.raises(export.MidiFormatError) as caught:
        export.read_midi(b"RIFF....WAVEfmt ")
    assert caught.value.code == "not-midi"
    with pytest.raises(export.MidiFormatError) as caught:
        export.read_midi(export.to_midi(small_score())[:60])
    assert caught.value.code == "truncated"


# ------------------------------------------------------------------------------------------ MusicXML


@pytest.fixture(scope="module")
def parsed_xml() -> music21.stream.Score:
    return parse(export.to_musicxml(small_score()), "musicxml")


def test_musicxml_has_one_named_part_per_part_and_instrument(parsed_xml: music21.stream.Score) -> None:
    assert [p.partName for p in parsed_xml.parts] == ["Violins", "Violoncellos", "Low Percussion (taiko)",
                                                      "Suspended Cymbal"]
    assert parsed_xml.metadata.title == "Test cue"


def test_musicxml_pitches_onsets_and_durations_per_part(parsed_xml: music21.stream.Score) -> None:
    melody = parsed_xml.parts[0].stripTies().flatten().getElementsByClass(music21.note.Note)
    assert [(float(n.offset), float(n.quarterLength), n.pitch.midi) for n in melody] == [
        (0.0, 1.5, 69), (1.5, 3.0, 72), (5.0, 1.0, 74), (8.0, 2.0, 75), (10.0, 2.0, 70)]
    # Spelled for the key: Eb and Bb in Eb major, not D# and A#.
    assert [n.pitch.nameWithOctave for n in melody] == ["A4", "C5", "D5", "E-5", "B-4"]
    bass = parsed_xml.parts[1].stripTies().flatten().notes
    assert [(float(n.offset), float(n.quarterLength), sorted(p.midi for p in n.pitches)) for n in bass] == [
        (0.0, 4.0, [50, 57]), (4.0, 4.0, [43]), (8.0, 4.0, [51])]


def test_musicxml_ties_notes_across_bar_lines(parsed_xml: music21.stream.Score) -> None:
    measures = list(parsed_xml.parts[0].getElementsByClass(music21.stream.Measure))
    last_of_bar_1 = measures[0].flatten().getElementsByClass(music21.note.Note)[-1]
    first_of_bar_2 = measures[1].flatten().getElementsByClass(music21.note.Note)[0]
    assert last_of_bar_1.pitch.midi == first_of_bar_2.pitch.midi == 72
    assert last_of_bar_1.tie is not None and last_of_bar_1.tie.type in ("start", "continue")
    assert first_of_bar_2.tie is not None and first_of_bar_2.tie.type == "stop"


def test_musicxml_key_time_and_tempo(parsed_xml: music21.stream.Score) -> None:
    for part in parsed_xml.parts[:2]:
        keys = [(float(k.getOffsetInHierarchy(part)), k.sharps) for k in
                part.flatten().getElementsByClass(music21.key.KeySignature)]
        assert keys == [(0.0, -1), (8.0, -3)]
        times = part.flatten().getElementsByClass(music21.meter.TimeSignature)
        assert [t.ratioString for t in times] == ["4/4"]
    first_key = parsed_xml.parts[0].flatten().getElementsByClass(music21.key.KeySignature)[0]
    assert isinstance(first_key, music21.key.Key) and first_key.mode == "minor"
    marks = parsed_xml.parts[0].flatten().getElementsByClass(music21.tempo.MetronomeMark)
    assert [(float(m.offset), m.number) for m in marks] == [(0.0, 120), (8.0, 90)]


def test_musicxml_percussion_is_unpitched_on_a_percussion_clef(parsed_xml: music21.stream.Score) -> None:
    drums = parsed_xml.parts[2]
    assert isinstance(drums.flatten().getElementsByClass(music21.clef.Clef)[0], music21.clef.PercussionClef)
    hits = drums.flatten().notes
    assert all(isinstance(n, music21.note.Unpitched) for n in hits)
    assert [float(n.offset) for n in hits] == [0.0, 4.0, 8.0]
    assert isinstance(parsed_xml.parts[1].flatten().getElementsByClass(music21.clef.Clef)[0],
                      music21.clef.BassClef)


def test_musicxml_marks_dynamics_only_where_the_level_changes_markedly() -> None:
    steady = [Note("pad", "strings", 60, float(b * 4), 4.0, 80 + (b % 2) * 4) for b in range(4)]
    swell = [Note("lead", "flute", 72, float(b * 4), 4.0, v) for b, v in enumerate((15, 20, 100, 110))]
    score = Score(tuple(steady + swell), TempoMap(), 4, (KeyChange(0.0, 0, "major"),), 16.0)
    parsed = parse(export.to_musicxml(score), "musicxml")
    marks = [[(float(d.offset), d.value) for d in p.flatten().getElementsByClass(music21.dynamics.Dynamic)]
             for p in parsed.parts]
    # 80/84 stay mf; 15 -> 20 stays pp; 20 -> 100 is a new level; 100 -> 110 crosses into ff by too little.
    assert marks == [[(0.0, "mf")], [(0.0, "pp"), (8.0, "f")]]


def test_musicxml_quantizes_to_sixteenths_and_keeps_overlapping_lines_in_voices() -> None:
    notes = (Note("pad", "piano", 60, 0.0, 4.0, 70),  # a held note under a moving line in the same part
             Note("pad", "piano", 72, 0.3, 0.5, 70),  # starts at 0.25 once quantized
             Note("pad", "piano", 74, 1.0, 1.0, 70))
    score = Score(notes, TempoMap(), 4, (KeyChange(0.0, 0, "major"),), 4.0)
    parsed = parse(export.to_musicxml(score), "musicxml")
    got = sorted((float(n.offset), float(n.quarterLength), n.pitch.midi)
                 for n in parsed.parts[0].stripTies().flatten().getElementsByClass(music21.note.Note))
    assert got == [(0.0, 4.0, 60), (0.25, 0.5, 72), (1.0, 1.0, 74)]


def test_musicxml_folds_more_overlapping_lines_than_a_staff_shows_into_four_voices() -> None:
    # Six staggered whole notes in one part: the fifth and sixth cut the earliest lines short.
    notes = tuple(Note("pad", "strings", 60 + 2 * i, i * 0.5, 4.0, 70) for i in range(6))
    score = Score(notes, TempoMap(), 4, (KeyChange(0.0, 0, "major"),), 8.0)
    xml = export.to_musicxml(score)
    assert b"<voice>5</voice>" not in xml
    parsed = parse(xml, "musicxml")
    got = sorted(n.pitch.midi for n in parsed.parts[0].flatten().getElementsByClass(music21.note.Note)
                 if n.tie is None or n.tie.type == "start")
    assert got == [60, 62, 64, 66, 68, 70]


def test_musicxml_fills_the_score_length_with_measures() -> None:
    parsed = parse(export.to_musicxml(small_score()), "musicxml")
    for part in parsed.parts:
        measures = part.getElementsByClass(music21.stream.Measure)
        assert len(measures) == 3
        assert all(m.duration.quarterLength == 4.0 for m in measures)


def test_musicxml_refuses_a_score_without_parts() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        export.to_musicxml(Score((), TempoMap(), 4, (), 4.0))


def test_musicxml_bytes_are_deterministic() -> None:
    assert export.to_musicxml(small_score()) == export.to_musicxml(small_score())


@pytest.mark.parametrize(("tonic", "mode", "fifths", "names"), [
    (9, "minor", 0, {8: ("G", 1), 10: ("B", -1), 1: ("C", 1)}),  # A minor: leading tone G#
    (6, "major", 6, {5: ("E", 1), 1: ("C", 1)}),  # F# major has E#
    (3, "minor", -6, {11: ("C", -1), 6: ("G", -1)}),  # Eb minor: Cb, Gb
    (3, "major", -3, {3: ("E", -1), 6: ("G", -1)}),  # Eb major; chromatic notes take flats
    (2, "major", 2, {6: ("F", 1), 8: ("G", 1), 5: ("F", 0)}),  # D major; chromatic notes take sharps
])
def test_key_signatures_and_spelling(tonic: int, mode: str, fifths: int, names: dict[int, tuple[str, int]]) -> None:
    assert export.key_fifths(tonic, mode) == fifths
    table = export.spelling(tonic, mode)
    for pc, spelled in names.items():
        assert table[pc] == spelled


# --------------------------------------------------------------------------------------------- speed


def sixty_second_cue() -> Score:
    """About 800 notes over ten parts, 30 bars of 4/4 at 120 BPM (60 s), chords and overlaps included."""
    parts = [("melody", "violins", 72), ("counter", "flute", 79), ("harmony", "violas", 62), ("horns", "horn", 60),
             ("bass", "contrabass", 38), ("pad", "strings", 55), ("arp", "harp", 67), ("low", "cellos", 48),
             ("hits", "low_percussion", 36), ("crash", "cymbal", 49)]
    notes: list[Note] = []
    for index, (part, name, base) in enumerate(parts):
        beat, step = 0.0, 0
        while beat < 120.0:
            length = (0.5, 1.0, 1.5, 2.0, 1.0)[(step + index) % 5] if part not in ("pad", "hits", "crash") else 4.0
            chord = (0, 4, 7) if part == "pad" else (0,)
            for interval in chord:
                notes.append(Note(part, name, base + (step * 5 + index) % 9 + interval, beat,
                                  min(length * 1.5, 120.0 - beat), 50 + (step * 7) % 60))
            beat += length
            step += 1
    return Score(tuple(notes), TempoMap(), 4, (KeyChange(0.0, 2, "minor"),), 120.0, "Sixty seconds",
                 tuple((p, n) for p, n, _ in parts))


def test_a_sixty_second_cue_exports_quickly() -> None:
    score = sixty_second_cue()
    assert 700 <= len(score.notes) <= 1000
    started = time.perf_counter()
    midi = export.to_midi(score)
    midi_seconds = time.perf_counter() - started
    started = time.perf_counter()
    xml = export.to_musicxml(score)
    xml_seconds = time.perf_counter() - started
    # Generous bounds (the measured times are ~3 ms and ~40 ms): catch an accidental quadratic, not jitter.
    assert midi_seconds < 0.5
    assert xml_seconds < 1.5
    assert len(export.read_midi_notes(midi)) == len(score.notes)
    parsed = parse(xml, "musicxml")
    assert len(parsed.parts) == 10
