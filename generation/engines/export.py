"""Score export: Standard MIDI Files (SMF type 1) and MusicXML 4.0, both written directly.

Pure and Django-free; no music21 at run time. Writing the bytes ourselves keeps the exporters fast (a
60-second, ten-part cue: ~3 ms for MIDI, ~40 ms for MusicXML, where music21's own MusicXML writer needs
~0.7 s plus ~0.3 s to import), deterministic (byte-identical output for the same score) and fully under our
control. music21 is used only by the tests, to check that an independent reader understands what we wrote;
the MusicXML was also checked by converting it with MuseScore 3, which validates against the schema.

References: Standard MIDI Files 1.0 (MMA RP-001) for the SMF layout and meta events; MusicXML 4.0
(W3C Music Notation CG, partwise DTD) for the score.
"""

from __future__ import annotations

import itertools
import math
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from generation.engines.instruments import Instrument, instrument
from generation.engines.score import PITCH_NAMES, KeyChange, Note, Score, dynamic_of, parts_of, scale_of

TICKS_PER_QUARTER = 480
DRUM_CHANNEL = 9  # "channel 10" in General MIDI's 1-based numbering
MELODIC_CHANNELS = tuple(c for c in range(16) if c != DRUM_CHANNEL)
DIVISIONS = 4  # MusicXML divisions per quarter: everything is quantized to sixteenths
MAX_VOICES = 4  # what MuseScore shows per staff; further overlapping lines are folded into these

# Fifths (positive = sharps) of the conventional signature for each tonic pitch class. Fewest accidentals
# wins; the one tie (six sharps or six flats) follows score.PITCH_NAMES' spelling (F# major, Eb minor).
_MAJOR_FIFTHS = (0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5)
_MINOR_FIFTHS = (-3, 4, -1, -6, 1, -4, 3, -2, 5, 0, -5, 2)

_STEPS = "CDEFGAB"
_STEP_PC = (0, 2, 4, 5, 7, 9, 11)


class MidiFormatError(ValueError):
    """Bytes handed to the MIDI reader are not a Standard MIDI File it understands."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def key_fifths(tonic: int, mode: str) -> int:
    """Key-signature fifths (sharps > 0, flats < 0) of `tonic` (pitch class) in `mode`."""
    return (_MINOR_FIFTHS if mode == "minor" else _MAJOR_FIFTHS)[tonic % 12]


def export_parts(score: Score) -> tuple[tuple[str, str], ...]:
    """The (part, instrument) pairs that become tracks/staves: `score.parts` order, then any others used."""
    seen = dict.fromkeys(score.parts)
    for pair in parts_of(score.notes):
        seen.setdefault(pair, None)
    return tuple(seen)


def midi_channels(parts: Sequence[tuple[str, str]]) -> dict[str, int]:
    """0-based MIDI channel per instrument: percussion on 9, the rest in order of appearance around it.

    Parts that share an instrument share its channel (they share its program and pan anyway). Beyond 15
    melodic instruments channels are reused round-robin, which General MIDI cannot avoid.
    """
    channels: dict[str, int] = {}
    melodic = 0
    for _, name in parts:
        if name in channels:
            continue
        if instrument(name).percussion:
            channels[name] = DRUM_CHANNEL
        else:
            channels[name] = MELODIC_CHANNELS[melodic % len(MELODIC_CHANNELS)]
            melodic += 1
    return channels


# ---------------------------------------------------------------------------------------------- MIDI


def _vlq(value: int) -> bytes:
    """A variable-length quantity: 7 bits per byte, most significant first, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def _meta(kind: int, payload: bytes) -> bytes:
    return bytes((0xFF, kind)) + _vlq(len(payload)) + payload


def _track_chunk(events: Iterable[tuple[int, int, bytes]], end_tick: int) -> bytes:
    """An MTrk chunk from (tick, order, message) events; `order` breaks ties at one tick (offs before ons)."""
    body = bytearray()
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        body += _vlq(tick - now) + message
        now = tick
    body += _vlq(max(0, end_tick - now)) + _meta(0x2F, b"")
    return b"MTrk" + struct.pack(">I", len(body)) + bytes(body)


def _ticks(beats: float) -> int:
    return max(0, round(beats * TICKS_PER_QUARTER))


def _pan_value(pan: float) -> int:
    return min(127, max(0, round(64 + pan * 63.5)))


def _midi_key(note: Note, inst: Instrument) -> int:
    return inst.gm_drum_key if inst.percussion else min(127, max(0, note.pitch))


def _note_spans(score: Score, channels: dict[str, int]) -> list[tuple[Note, int, int, int, int]]:
    """(note, channel, key, on tick, off tick) for every note, overlaps on one channel+key cut short.

    A MIDI note-off silences the key on its channel whatever note-on started it, so a note that is still
    sounding when the same key is struck again on the same channel (by any part) ends at the new attack.
    """
    spans: list[tuple[Note, int, int, int, int]] = []
    for note in score.notes:
        inst = instrument(note.instrument)
        on = _ticks(note.start)
        spans.append((note, channels[note.instrument], _midi_key(note, inst), on,
                      max(on + 1, _ticks(note.start + note.duration))))
    order = sorted(range(len(spans)), key=lambda i: spans[i][1:])
    for prev, cur in itertools.pairwise(order):
        p, c = spans[prev], spans[cur]
        if p[1:3] == c[1:3] and p[4] > c[3]:
            # A later attack ends the earlier note; a unison doubling (same attack) ends with its longer twin.
            spans[prev] = (p[0], p[1], p[2], p[3], c[3] if c[3] > p[3] else c[4])
    return spans


def to_midi(score: Score, *, tail_beats: float = 0.0) -> bytes:
    """Standard MIDI File type 1 at 480 ticks per quarter: a conductor track, then one track per part.

    Track 0 holds the title, time signature (meter/4), key signatures and the tempo map. Each part track
    carries its name, program change (General MIDI), pan (CC10) and notes; percussion instruments play
    their GM drum key on channel 10. `tail_beats` moves the end-of-track past the score's length, so a
    player that stops at the end of the file (FluidSynth's fast render) lets the last notes ring out.
    """
    parts = export_parts(score)
    channels = midi_channels(parts)
    spans = _note_spans(score, channels)
    end_tick = max([_ticks(score.length_beats + tail_beats)] + [s[4] for s in spans])

    conductor: list[tuple[int, int, bytes]] = [(0, 0, _meta(0x03, score.title.encode()))]
    conductor.append((0, 1, _meta(0x58, bytes((score.meter, 2, 24, 8)))))  # n/4, 24 clocks per click, 8 32nds/q
    for key in score.keys:
        sf = key_fifths(key.tonic, key.mode)
        conductor.append((_ticks(key.beat), 2, _meta(0x59, struct.pack(">bB", sf, key.mode == "minor"))))
    for change in score.tempo.changes:
        tempo = min(0xFFFFFF, round(60_000_000 / change.bpm))  # microseconds per quarter note
        conductor.append((_ticks(change.beat), 3, _meta(0x51, tempo.to_bytes(3, "big"))))
    chunks = [_track_chunk(conductor, end_tick)]

    drum_pan_written = False
    for part, name in parts:
        inst = instrument(name)
        channel = channels[name]
        label = inst.display if part in ("", name) else f"{inst.display} - {part}"
        events: list[tuple[int, int, bytes]] = [(0, 0, _meta(0x03, label.encode()))]
        if not inst.percussion:
            events.append((0, 1, bytes((0xC0 | channel, inst.gm_program & 0x7F))))
        # Pan is per channel; every percussion instrument shares channel 10, so the first one sets it.
        if not inst.percussion or not drum_pan_written:
            events.append((0, 2, bytes((0xB0 | channel, 10, _pan_value(inst.pan)))))
            drum_pan_written = drum_pan_written or inst.percussion
        for note, ch, midi_key, on, off in spans:
            if note.part == part and note.instrument == name:
                velocity = min(127, max(1, note.velocity))
                events.append((on, 4, bytes((0x90 | ch, midi_key, velocity))))
                events.append((off, 3, bytes((0x80 | ch, midi_key, 64))))  # offs sort before ons at one tick
        chunks.append(_track_chunk(events, end_tick))

    header = b"MThd" + struct.pack(">IHHH", 6, 1, len(chunks), TICKS_PER_QUARTER)
    return header + b"".join(chunks)


@dataclass(frozen=True)
class MidiNote:
    """A note read back from a MIDI file, timed in beats (quarter notes)."""

    track: int
    channel: int
    pitch: int
    start: float
    duration: float
    velocity: int


@dataclass(frozen=True)
class MidiContents:
    """What the minimal reader understands of a Standard MIDI File."""

    format: int
    ticks_per_quarter: int
    track_names: tuple[str, ...]
    notes: tuple[MidiNote, ...]
    tempos: tuple[tuple[float, float], ...]  # (beat, bpm)
    time_signatures: tuple[tuple[float, int, int], ...]  # (beat, numerator, denominator)
    key_signatures: tuple[tuple[float, int, str], ...]  # (beat, fifths, "major" | "minor")
    programs: tuple[tuple[int, int, int], ...]  # (track, channel, program)
    controllers: tuple[tuple[int, int, int, int], ...]  # (track, channel, controller, value)
    end_beats: float  # the latest end-of-track


@dataclass
class _Reader:
    """A cursor over SMF bytes that fails with a MidiFormatError instead of an IndexError."""

    data: bytes
    pos: int = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise MidiFormatError("truncated", f"MIDI data ends at byte {len(self.data)}, inside an event")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def vlq(self) -> int:
        value = 0
        for _ in range(4):
            byte = self.take(1)[0]
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                return value
        raise MidiFormatError("bad-vlq", f"variable-length quantity longer than 4 bytes at byte {self.pos}")


def read_midi(data: bytes) -> MidiContents:
    """Parse a Standard MIDI File (types 0/1, PPQ timing) into notes, tempos, signatures and programs."""
    if data[:4] != b"MThd" or len(data) < 14:
        raise MidiFormatError("not-midi", "data does not start with an MThd header chunk")
    header_len, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    if division & 0x8000:
        raise MidiFormatError("smpte-timing", "SMPTE time division is not supported, only ticks per quarter")
    tpq = division
    reader = _Reader(data, 8 + header_len)
    names: list[str] = []
    notes: list[MidiNote] = []
    tempos: list[tuple[float, float]] = []
    times: list[tuple[float, int, int]] = []
    keys: list[tuple[float, int, str]] = []
    programs: list[tuple[int, int, int]] = []
    controllers: list[tuple[int, int, int, int]] = []
    end = 0
    for track in range(ntracks):
        if reader.take(4) != b"MTrk":
            raise MidiFormatError("bad-chunk", f"track {track} does not start with MTrk")
        (length,) = struct.unpack(">I", reader.take(4))
        stop = reader.pos + length
        tick = 0
        status = 0
        name = ""
        pending: dict[tuple[int, int], list[tuple[int, int]]] = {}
        while reader.pos < stop:
            tick += reader.vlq()
            first = reader.take(1)[0]
            if first & 0x80:
                status = first
                data1 = -1
            elif status:
                data1 = first  # running status: this byte is the first data byte
            else:
                raise MidiFormatError("no-status", f"data byte without a status in track {track}")
            if status == 0xFF:
                kind = reader.take(1)[0]
                payload = reader.take(reader.vlq())
                beat = tick / tpq
                if kind == 0x03 and not name:
                    name = payload.decode("utf-8", "replace")
                elif kind == 0x51:
                    tempos.append((beat, 60_000_000 / int.from_bytes(payload, "big")))
                elif kind == 0x58:
                    times.append((beat, payload[0], 2 ** payload[1]))
                elif kind == 0x59:
                    sf, mi = struct.unpack(">bB", payload)
                    keys.append((beat, sf, "minor" if mi else "major"))
                elif kind == 0x2F:
                    break
                status = 0  # meta and sysex events cancel running status
                continue
            if status in (0xF0, 0xF7):
                reader.take(reader.vlq())
                status = 0
                continue
            kind, channel = status & 0xF0, status & 0x0F
            if data1 < 0:
                data1 = reader.take(1)[0]
            data2 = reader.take(1)[0] if kind not in (0xC0, 0xD0) else 0
            if kind == 0x90 and data2 > 0:
                pending.setdefault((channel, data1), []).append((tick, data2))
            elif kind in (0x80, 0x90):
                started = pending.get((channel, data1))
                if started:
                    on, velocity = started.pop(0)
                    notes.append(MidiNote(track, channel, data1, on / tpq, (tick - on) / tpq, velocity))
            elif kind == 0xC0:
                programs.append((track, channel, data1))
            elif kind == 0xB0:
                controllers.append((track, channel, data1, data2))
        reader.pos = stop
        end = max(end, tick)
        names.append(name)
    notes.sort(key=lambda n: (n.start, n.track, n.channel, n.pitch))
    return MidiContents(fmt, tpq, tuple(names), tuple(notes), tuple(sorted(tempos)), tuple(times),
                        tuple(keys), tuple(programs), tuple(controllers), end / tpq)


def read_midi_notes(data: bytes) -> list[tuple[int, int, float, float, int]]:
    """(channel, pitch, start_beats, duration_beats, velocity) of every note, in time order."""
    return [(n.channel, n.pitch, n.start, n.duration, n.velocity) for n in read_midi(data).notes]


# ------------------------------------------------------------------------------------------ MusicXML

_TYPES = {1: ("16th", 0), 2: ("eighth", 0), 3: ("eighth", 1), 4: ("quarter", 0), 6: ("quarter", 1),
          8: ("half", 0), 12: ("half", 1), 16: ("whole", 0)}
_ON_BEAT_VALUES = (16, 12, 8, 6, 4)

# Where a GM drum key sits on a five-line percussion staff (common drum-set notation), and its notehead.
_DRUM_DISPLAY = {35: ("F", 4, None), 36: ("F", 4, None), 38: ("C", 5, None), 42: ("G", 5, "x"),
                 49: ("A", 5, "x"), 51: ("F", 5, "x"), 52: ("A", 5, "x"), 57: ("A", 5, "x")}
_DRUM_DEFAULT = ("C", 5, None)


def _alter(pc: int, step: int) -> int:
    return (pc - _STEP_PC[step] + 6) % 12 - 6


def spelling(tonic: int, mode: str) -> tuple[tuple[str, int], ...]:
    """(step, alter) for each of the 12 pitch classes, spelled for the key of `tonic` `mode`.

    Scale tones take consecutive letters from the tonic's letter (so F# major has E#, not F); the minor
    key's raised 7th is spelled as a sharpened 7th degree (G# in A minor); other chromatic notes follow the
    signature's direction (sharps in sharp keys, flats in flat keys, score.PITCH_NAMES in C / A minor).
    """
    fifths = key_fifths(tonic, mode)
    major_step = (4 * fifths) % 7  # each fifth up is four letters up: C G D A E B F#
    tonic_step = major_step if mode != "minor" else (major_step + 5) % 7  # relative minor: a sixth above
    table: dict[int, tuple[int, int]] = {}
    degrees = [*scale_of(mode), 11] if mode == "minor" else list(scale_of(mode))
    for i, degree in enumerate(degrees):
        step = (tonic_step + min(i, 6)) % 7
        pc = (tonic + degree) % 12
        table.setdefault(pc, (step, _alter(pc, step)))
    out: list[tuple[str, int]] = []
    for pc in range(12):
        if pc in table:
            step, alter = table[pc]
        elif pc in _STEP_PC:
            step, alter = _STEP_PC.index(pc), 0
        elif fifths > 0 or (fifths == 0 and "#" in PITCH_NAMES[pc]):
            step, alter = _STEP_PC.index(pc - 1), 1
        else:
            step, alter = _STEP_PC.index((pc + 1) % 12), -1
        out.append((_STEPS[step], alter))
    return tuple(out)


def _spell(pitch: int, table: Sequence[tuple[str, int]]) -> tuple[str, int, int]:
    step, alter = table[pitch % 12]
    return step, alter, (pitch - alter) // 12 - 1  # the octave belongs to the letter: B#3 sounds as C4


@dataclass
class _Event:
    """A chord (or single note) of one voice, in sixteenths from the start of the cue."""

    start: int
    end: int
    pitches: list[int]
    velocity: float


def _voices(notes: Sequence[Note], drum_key: int | None) -> list[list[_Event]]:
    """Lay a part's notes out in at most MAX_VOICES voices of non-overlapping chords.

    Notes with the same quantized start and end form a chord. Each chord goes to the first voice that is
    free by its start; when all voices are busy, the voice that frees up soonest has its last chord cut
    short at the new start (a legato overlap a player would not hold anyway).
    """
    groups: dict[tuple[int, int], list[Note]] = {}
    for note in notes:
        start = round(note.start * DIVISIONS)
        end = max(start + 1, round((note.start + note.duration) * DIVISIONS))
        groups.setdefault((start, end), []).append(note)
    voices: list[list[_Event]] = []
    for (start, end), group in sorted(groups.items()):
        pitches = sorted({drum_key if drum_key is not None else n.pitch for n in group})
        event = _Event(start, end, pitches, sum(n.velocity for n in group) / len(group))
        free = next((v for v in voices if v[-1].end <= start), None)
        if free is not None:
            free.append(event)
        elif len(voices) < MAX_VOICES:
            voices.append([event])
        else:
            voice = min(voices, key=lambda v: v[-1].end)
            last = voice[-1]
            if last.start < start:
                last.end = start
                voice.append(event)
            else:  # same attack: fold into that chord
                last.pitches = sorted(set(last.pitches) | set(pitches))
    return voices


def _pieces(start: int, end: int, bar_start: int, cuts: Sequence[int]) -> list[int]:
    """Split [start, end) (inside one bar) into notatable lengths: off-beat parts up to the next beat first,
    then the longest plain or dotted value that fits; `cuts` are positions that must start a piece."""
    lengths: list[int] = []
    pos = start
    while pos < end:
        stop = min([end] + [c for c in cuts if pos < c < end])
        rel = pos - bar_start
        if rel % DIVISIONS:
            length = min(stop - pos, DIVISIONS - rel % DIVISIONS)
        elif stop - pos >= DIVISIONS:
            length = next(v for v in _ON_BEAT_VALUES if v <= stop - pos)
        else:
            length = stop - pos
        lengths.append(length)
        pos += length
    return lengths


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrib)
    if text is not None:
        child.text = text
    return child


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass
class _Staff:
    """Everything needed to write one part's measures."""

    pid: str
    inst: Instrument
    voices: list[list[_Event]]
    clef: tuple[str, int]
    dynamics: dict[int, tuple[int, str]] = field(default_factory=dict)  # bar -> (position, marking)


def _clef(notes: Sequence[Note], inst: Instrument) -> tuple[str, int]:
    if inst.percussion:
        return ("percussion", 0)
    if inst.name == "violas":
        return ("C", 3)
    pitches = sorted(n.pitch for n in notes) or [(inst.low + inst.high) // 2]
    return ("F", 4) if pitches[len(pitches) // 2] < 57 else ("G", 2)


def _dynamics(voices: list[list[_Event]], bar_len: int) -> dict[int, tuple[int, str]]:
    """A marking at the first bar, then wherever the bar's mean velocity moves to another level and by
    at least 12 (the margin keeps a part hovering at a level boundary from flickering between two marks)."""
    per_bar: dict[int, list[_Event]] = {}
    for voice in voices:
        for event in voice:
            per_bar.setdefault(event.start // bar_len, []).append(event)
    marks: dict[int, tuple[int, str]] = {}
    last_mark, last_velocity = "", -100.0
    for bar in sorted(per_bar):
        events = per_bar[bar]
        velocity = sum(e.velocity for e in events) / len(events)
        mark = dynamic_of(velocity / 127)
        if mark != last_mark and abs(velocity - last_velocity) >= 12:
            marks[bar] = (min(e.start for e in events) - bar * bar_len, mark)
            last_mark, last_velocity = mark, velocity
    return marks


def _bar_keys(keys: Sequence[KeyChange], meter: int, bars: int) -> dict[int, KeyChange]:
    """Key changes moved to the nearest bar line (a signature cannot change mid-bar); the last one wins."""
    out: dict[int, KeyChange] = {}
    for key in sorted(keys, key=lambda k: k.beat):
        out[min(bars - 1, max(0, round(key.beat / meter)))] = key
    if 0 not in out:
        out[0] = KeyChange(0.0, 0, "major")
    return out


def _write_note(measure: ET.Element, staff: _Staff, pitch: int | None, length: int, voice: int, *,
                chord: bool, tie_stop: bool, tie_start: bool, table: Sequence[tuple[str, int]]) -> None:
    note = _sub(measure, "note")
    if chord:
        _sub(note, "chord")
    notehead = None
    if pitch is None:
        _sub(note, "rest")
    elif staff.inst.percussion:
        step, octave, notehead = _DRUM_DISPLAY.get(pitch, _DRUM_DEFAULT)
        unpitched = _sub(note, "unpitched")
        _sub(unpitched, "display-step", step)
        _sub(unpitched, "display-octave", str(octave))
    else:
        step, alter, octave = _spell(pitch, table)
        element = _sub(note, "pitch")
        _sub(element, "step", step)
        if alter:
            _sub(element, "alter", str(alter))
        _sub(element, "octave", str(octave))
    _sub(note, "duration", str(length))
    if tie_stop:
        _sub(note, "tie", type="stop")
    if tie_start:
        _sub(note, "tie", type="start")
    if pitch is not None and staff.inst.percussion:
        _sub(note, "instrument", id=f"{staff.pid}-I1")
    _sub(note, "voice", str(voice))
    kind, dots = _TYPES[length]
    _sub(note, "type", kind)
    for _ in range(dots):
        _sub(note, "dot")
    if notehead:
        _sub(note, "notehead", notehead)
    if tie_stop or tie_start:
        notations = _sub(note, "notations")
        if tie_stop:
            _sub(notations, "tied", type="stop")
        if tie_start:
            _sub(notations, "tied", type="start")


def _write_voice(measure: ET.Element, staff: _Staff, events: Sequence[_Event], voice: int, bar_start: int,
                 bar_len: int, table: Sequence[tuple[str, int]],
                 directions: Sequence[tuple[int, ET.Element]]) -> None:
    """One voice's notes and rests across one bar, with `directions` inserted at their positions."""
    bar_end = bar_start + bar_len
    cuts = sorted({bar_start + pos for pos, _ in directions})
    pending = sorted(directions, key=lambda d: d[0])

    def place(pos: int) -> None:
        while pending and bar_start + pending[0][0] <= pos:
            measure.append(pending.pop(0)[1])

    def rests(start: int, stop: int) -> None:
        for length in _pieces(start, stop, bar_start, cuts):
            place(start)
            _write_note(measure, staff, None, length, voice, chord=False, tie_stop=False, tie_start=False,
                        table=table)
            start += length

    inside = [e for e in events if e.start < bar_end and e.end > bar_start]
    if not inside and not cuts and voice == 1:
        note = _sub(measure, "note")
        _sub(note, "rest", measure="yes")
        _sub(note, "duration", str(bar_len))
        _sub(note, "voice", "1")
        return
    pos = bar_start
    for event in inside:
        start, stop = max(event.start, bar_start), min(event.end, bar_end)
        if start > pos:
            rests(pos, start)
        lengths = _pieces(start, stop, bar_start, cuts)
        at = start
        for i, length in enumerate(lengths):
            place(at)
            tie_stop = i > 0 or event.start < bar_start
            tie_start = i < len(lengths) - 1 or event.end > bar_end
            for j, pitch in enumerate(event.pitches):
                _write_note(measure, staff, pitch, length, voice, chord=j > 0, tie_stop=tie_stop,
                            tie_start=tie_start, table=table)
            at += length
        pos = stop
    if pos < bar_end:
        rests(pos, bar_end)
    place(bar_end)


def _direction(placement: str) -> tuple[ET.Element, ET.Element]:
    direction = ET.Element("direction", placement=placement)
    return direction, _sub(direction, "direction-type")


def _tempo_direction(bpm: float) -> ET.Element:
    direction, kind = _direction("above")
    metronome = _sub(kind, "metronome", parentheses="no")
    _sub(metronome, "beat-unit", "quarter")
    _sub(metronome, "per-minute", _number(bpm))
    _sub(direction, "sound", tempo=_number(bpm))
    return direction


def _dynamics_direction(mark: str) -> ET.Element:
    direction, kind = _direction("below")
    _sub(_sub(kind, "dynamics"), mark)
    return direction


def to_musicxml(score: Score) -> bytes:
    """MusicXML 4.0 (partwise, uncompressed): one part per (part, instrument), quantized to sixteenths.

    Every part carries its instrument's display name and General MIDI sound, the key signature(s) (changes
    at the nearest bar line), the time signature and a clef chosen from its register (percussion on a
    percussion staff with unpitched notes); the first part carries a metronome mark at each tempo change.
    Dynamics are marked where a part's velocity level changes markedly; notes held over a bar line are tied.
    """
    parts = export_parts(score)
    if not parts:
        raise ValueError("a MusicXML score needs at least one part: the score has no notes and no parts")
    channels = midi_channels(parts)
    bar_len = score.meter * DIVISIONS
    last_end = max((n.start + n.duration for n in score.notes), default=0.0)
    bars = max(1, math.ceil(round(max(score.length_beats, last_end) * DIVISIONS) / bar_len))
    bar_keys = _bar_keys(score.keys, score.meter, bars)
    tempo_marks: dict[int, list[tuple[int, ET.Element]]] = {}
    for change in score.tempo.changes:
        pos = min(bars * bar_len - 1, max(0, round(change.beat * DIVISIONS)))
        tempo_marks.setdefault(pos // bar_len, []).append((pos % bar_len, _tempo_direction(change.bpm)))

    root = ET.Element("score-partwise", version="4.0")
    if score.title:
        _sub(_sub(root, "work"), "work-title", score.title)
    _sub(_sub(_sub(root, "identification"), "encoding"), "software", "Clearcue")
    part_list = _sub(root, "part-list")
    displays = [instrument(name).display for _, name in parts]
    staves: list[_Staff] = []
    for index, (part, name) in enumerate(parts, start=1):
        inst = instrument(name)
        pid = f"P{index}"
        notes = [n for n in score.notes if n.part == part and n.instrument == name]
        voices = _voices(notes, inst.gm_drum_key if inst.percussion else None)
        staff = _Staff(pid, inst, voices, _clef(notes, inst), _dynamics(voices, bar_len))
        staves.append(staff)
        label = inst.display if displays.count(inst.display) == 1 else f"{inst.display} - {part}"
        score_part = _sub(part_list, "score-part", id=pid)
        _sub(score_part, "part-name", label)
        _sub(_sub(score_part, "score-instrument", id=f"{pid}-I1"), "instrument-name", inst.display)
        midi = _sub(score_part, "midi-instrument", id=f"{pid}-I1")
        _sub(midi, "midi-channel", str(channels[name] + 1))
        if inst.percussion:
            _sub(midi, "midi-unpitched", str(inst.gm_drum_key + 1))
        else:
            _sub(midi, "midi-program", str(inst.gm_program + 1))
        _sub(midi, "pan", _number(inst.pan * 90))

    for index, staff in enumerate(staves):
        part_el = _sub(root, "part", id=staff.pid)
        key = bar_keys[0]
        for bar in range(bars):
            measure = _sub(part_el, "measure", number=str(bar + 1))
            key = bar_keys.get(bar, key)
            table = spelling(key.tonic, key.mode)
            if bar == 0 or (bar in bar_keys and not staff.inst.percussion):
                attributes = _sub(measure, "attributes")
                if bar == 0:
                    _sub(attributes, "divisions", str(DIVISIONS))
                if not staff.inst.percussion:
                    key_el = _sub(attributes, "key")
                    _sub(key_el, "fifths", str(key_fifths(key.tonic, key.mode)))
                    _sub(key_el, "mode", key.mode)
                if bar == 0:
                    time = _sub(attributes, "time")
                    _sub(time, "beats", str(score.meter))
                    _sub(time, "beat-type", "4")
                    clef = _sub(attributes, "clef")
                    _sub(clef, "sign", staff.clef[0])
                    if staff.clef[1]:
                        _sub(clef, "line", str(staff.clef[1]))
            directions = list(tempo_marks.get(bar, [])) if index == 0 else []
            if bar in staff.dynamics:
                pos, mark = staff.dynamics[bar]
                directions.append((pos, _dynamics_direction(mark)))
            bar_start = bar * bar_len
            voices = staff.voices or [[]]
            written = 0
            for number, events in enumerate(voices, start=1):
                if number > 1 and not any(e.start < bar_start + bar_len and e.end > bar_start for e in events):
                    continue
                if written:
                    _sub(_sub(measure, "backup"), "duration", str(bar_len))
                _write_voice(measure, staff, events, number, bar_start, bar_len, table,
                             directions if number == 1 else ())
                written += 1
            if bar == bars - 1:
                _sub(_sub(measure, "barline", location="right"), "bar-style", "light-heavy")

    ET.indent(root, space=" ")
    body = ET.tostring(root, encoding="unicode")
    head = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
            '<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
            '"http://www.musicxml.org/dtds/partwise.dtd">\n')
    return (head + body + "\n").encode("utf-8")
