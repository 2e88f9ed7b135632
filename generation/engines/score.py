"""The data every engine stage exchanges: a cue plan, a symbolic score, and notes timed in seconds.

Pure and Django-free (no torch either), so the planner, composer, arranger, exporters, renderers and the
evaluation script share one vocabulary. Musical time is counted in beats (quarter notes) from the start
of the cue; a tempo map turns beats into seconds. Pitches are MIDI note numbers; pitch classes count
semitones above C (0 = C, 9 = A).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

MODES = ("major", "minor")
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the raised 7th (11) is idiomatic too
DYNAMICS = ("pp", "p", "mp", "mf", "f", "ff")


def scale_of(mode: str) -> tuple[int, ...]:
    """The scale degrees (semitones above the tonic) of a mode."""
    return MAJOR_SCALE if mode == "major" else MINOR_SCALE


def key_name(tonic: int, mode: str) -> str:
    """'D minor', 'Eb major'."""
    return f"{PITCH_NAMES[tonic % 12]} {mode}"


def dynamic_of(intensity: float) -> str:
    """The dynamic marking for an intensity in [0, 1]."""
    level = min(len(DYNAMICS) - 1, max(0, int(intensity * len(DYNAMICS))))
    return DYNAMICS[level]


@dataclass(frozen=True)
class HitPoint:
    """A moment the music must mark ("reveal at 0:42"), moved to the nearest bar line."""

    label: str
    requested: float  # seconds, as asked
    bar: int  # 0-based bar whose downbeat carries the hit
    beat: float  # that downbeat, in beats from the start
    time: float  # that downbeat, in seconds


@dataclass(frozen=True)
class Section:
    """A span of whole bars with one tempo, key, mood and orchestration."""

    index: int
    name: str  # "intro", "build", "climax", "release", "outro" ...
    start_bar: int
    bars: int
    start: float  # seconds
    end: float  # seconds
    tempo: float  # BPM (quarter note)
    tonic: int  # pitch class
    mode: str  # "major" | "minor"
    mood: str
    intensity_start: float  # 0..1
    intensity_end: float  # 0..1
    instruments: tuple[str, ...]  # orchestration, lead first

    @property
    def dynamics(self) -> str:
        """Marking for the section's mean intensity."""
        return dynamic_of((self.intensity_start + self.intensity_end) / 2)

    def intensity_at(self, fraction: float) -> float:
        """Linear intensity inside the section (fraction 0 = start, 1 = end)."""
        fraction = min(1.0, max(0.0, fraction))
        return self.intensity_start + (self.intensity_end - self.intensity_start) * fraction


@dataclass(frozen=True)
class CuePlan:
    """What a cue must be, before any note exists: sections, tempo, key, mood, dynamics, orchestration, hits."""

    description: str
    meter: int  # beats per bar (4 = 4/4, 3 = 3/4)
    sections: tuple[Section, ...]
    hit_points: tuple[HitPoint, ...] = ()
    style_tags: tuple[str, ...] = ()
    mood: str = ""
    seed: int = 0
    requested_duration: float = 0.0
    notes: tuple[str, ...] = ()  # how the planner read the description (for the model card and the UI)

    @property
    def bars(self) -> int:
        """Total bar count."""
        return sum(s.bars for s in self.sections)

    @property
    def duration(self) -> float:
        """Length in seconds (the end of the last section)."""
        return self.sections[-1].end if self.sections else 0.0

    def tempo_map(self) -> TempoMap:
        """Tempo changes at section starts."""
        return TempoMap(tuple(TempoChange(s.start_bar * self.meter, s.tempo) for s in self.sections))

    def section_at_bar(self, bar: int) -> Section:
        """The section that contains bar `bar`."""
        for section in self.sections:
            if section.start_bar <= bar < section.start_bar + section.bars:
                return section
        return self.sections[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (floats rounded to the millisecond)."""
        rounded: dict[str, Any] = _rounded(asdict(self))
        return rounded

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CuePlan:
        """Inverse of `to_dict`."""
        sections = tuple(Section(**{**s, "instruments": tuple(s["instruments"])}) for s in data["sections"])
        hits = tuple(HitPoint(**h) for h in data.get("hit_points", ()))
        return cls(description=data["description"], meter=int(data["meter"]), sections=sections,
                   hit_points=hits, style_tags=tuple(data.get("style_tags", ())), mood=data.get("mood", ""),
                   seed=int(data.get("seed", 0)), requested_duration=float(data.get("requested_duration", 0.0)),
                   notes=tuple(data.get("notes", ())))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


@dataclass(frozen=True)
class TempoChange:
    """From `beat` on, the tempo is `bpm`."""

    beat: float
    bpm: float


@dataclass(frozen=True)
class TempoMap:
    """Piecewise-constant tempo; converts beats to seconds and back."""

    changes: tuple[TempoChange, ...] = (TempoChange(0.0, 120.0),)

    def __post_init__(self) -> None:
        if not self.changes or self.changes[0].beat != 0:
            raise ValueError("a tempo map starts with a change at beat 0")
        object.__setattr__(self, "_beats", [c.beat for c in self.changes])
        starts = [0.0]
        for prev, cur in zip(self.changes, self.changes[1:], strict=False):
            starts.append(starts[-1] + (cur.beat - prev.beat) * 60.0 / prev.bpm)
        object.__setattr__(self, "_starts", starts)

    def seconds(self, beat: float) -> float:
        """Seconds at `beat`."""
        i = max(0, bisect.bisect_right(self._beats, beat) - 1)  # type: ignore[attr-defined]
        change = self.changes[i]
        return float(self._starts[i] + (beat - change.beat) * 60.0 / change.bpm)  # type: ignore[attr-defined]

    def beat_at(self, seconds: float) -> float:
        """Beat at `seconds`."""
        i = max(0, bisect.bisect_right(self._starts, seconds) - 1)  # type: ignore[attr-defined]
        change = self.changes[i]
        return float(change.beat + (seconds - self._starts[i]) * change.bpm / 60.0)  # type: ignore[attr-defined]

    def bpm_at(self, beat: float) -> float:
        """Tempo at `beat`."""
        i = max(0, bisect.bisect_right(self._beats, beat) - 1)  # type: ignore[attr-defined]
        return self.changes[i].bpm


@dataclass(frozen=True)
class Note:
    """One note of a score: which part plays it, on which virtual instrument, when (beats) and how loud."""

    part: str  # role in the arrangement: "melody", "countermelody", "harmony", "bass", "pad", "hits"
    instrument: str  # a name from instruments.INSTRUMENTS
    pitch: int  # MIDI note number
    start: float  # beats from the start of the cue
    duration: float  # beats
    velocity: int  # 1..127


@dataclass(frozen=True)
class KeyChange:
    """From `beat` on, the key is `tonic` `mode`."""

    beat: float
    tonic: int
    mode: str


@dataclass(frozen=True)
class Score:
    """A complete symbolic cue: notes, tempo map, meter and keys."""

    notes: tuple[Note, ...]
    tempo: TempoMap
    meter: int
    keys: tuple[KeyChange, ...]
    length_beats: float
    title: str = ""
    parts: tuple[tuple[str, str], ...] = field(default=())  # (part, instrument) in score order

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.tempo.seconds(self.length_beats)

    def timed(self) -> list[TimedNote]:
        """Every note with its start and duration in seconds (what a renderer plays)."""
        out = []
        for note in self.notes:
            start = self.tempo.seconds(note.start)
            end = self.tempo.seconds(note.start + note.duration)
            out.append(TimedNote(note.instrument, note.pitch, start, max(1e-3, end - start), note.velocity,
                                 note.part))
        return out


@dataclass(frozen=True)
class TimedNote:
    """A note in seconds, for renderers."""

    instrument: str
    pitch: int
    start: float
    duration: float
    velocity: int
    part: str = ""


def parts_of(notes: Iterable[Note]) -> tuple[tuple[str, str], ...]:
    """Distinct (part, instrument) pairs in first-appearance order."""
    seen: dict[tuple[str, str], None] = {}
    for note in notes:
        seen.setdefault((note.part, note.instrument), None)
    return tuple(seen)


def notes_in(score: Score, part: str) -> Sequence[Note]:
    """The notes of one part, in time order."""
    return sorted((n for n in score.notes if n.part == part), key=lambda n: (n.start, n.pitch))
