"""The reference composer's symbolic event vocabulary: melodies as token sequences and back.

Pure (no torch, no Django). A melody (transposed so its tonic is C; onsets and durations in sixteenths)
becomes

    BOS MODE_<m> METER_<n> STYLE_<tag>... LEN_<l> | BAR DENS_<d> (POS_<p> PITCH_<k> DUR_<c>)* | BAR ...
    | BAR FINAL DENS_<d> ... | EOS

Conditioning comes first (mode, meter, up to `MAX_STYLES` style tags the model knows, the length class of
the whole melody in bars); each bar opens with its density class (how many notes start in it), which is
what lets the sampler make a section busier or sparser to follow the plan's intensity. The last bar is
marked FINAL. A training window that starts inside a melody carries CONT after the conditioning.
Positions are sixteenths inside the bar; pitches are MIDI numbers in [`PITCH_LOW`, `PITCH_HIGH`] (folded by
octaves into that range); durations are one of `DURATIONS` sixteenths (nearest class). Velocity and
instrument are not modelled here: the arranger derives them from the plan (the corpus rarely notates
dynamics, and never film orchestration).

Why length, FINAL and CONT (layout 2, models from 1.2 on): a melody's first bar is usually a sparse pickup
and its last bar one held note, and long melodies are sparser than short ones (the reference catalog:
first bar 2.5 notes, last 2.7, the rest 4.6; melodies over 40 bars 3.0 notes per bar, 12-25 bars 4.8).
Without these tokens the model could not tell a melody's first bar from a window's first bar, never knew
which bar was the last (the sampler, not the model, ends a melody), and did not know how long the melody
would be: its free samples were 7-9% too dense and short of long notes. Layout 1 (models 1.0 and 1.1) has
none of the three; `Vocabulary.from_json` rebuilds whichever layout a checkpoint was trained with.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PITCH_LOW = 48
PITCH_HIGH = 96  # exclusive
DURATIONS = (1, 2, 3, 4, 6, 8, 12, 16)
METERS = (2, 3, 4)
MAX_POSITIONS = 16  # sixteenths in the longest bar (4/4)
DENSITY_EDGES = (1, 3, 5, 8)  # notes per 4/4 bar: <=1 -> 0, <=3 -> 1, <=5 -> 2, <=8 -> 3, more -> 4
DENSITY_CLASSES = len(DENSITY_EDGES) + 1
MAX_STYLES = 3
SPECIALS = ("PAD", "BOS", "EOS", "BAR", "STYLE_none")
LAYOUT_2_SPECIALS = ("CONT", "FINAL")  # a window that starts inside a melody; the melody's last bar
LENGTH_EDGES = (8, 12, 16, 24, 32, 48, 64)  # bars: <=8 -> 0, <=12 -> 1, ... more than 64 -> 7
LENGTH_CLASSES = len(LENGTH_EDGES) + 1
LAYOUT = 2  # token layout of new models (see the module docstring)


def density_class(notes_in_bar: int, meter: int) -> int:
    """Density class of a bar, scaled to 4/4 so a 3/4 bar with 3 notes counts like a 4/4 bar with 4."""
    scaled = notes_in_bar * 4 / meter
    for cls, edge in enumerate(DENSITY_EDGES):
        if scaled <= edge:
            return cls
    return len(DENSITY_EDGES)


def length_class(bars: int) -> int:
    """Length class of a melody of `bars` bars."""
    for cls, edge in enumerate(LENGTH_EDGES):
        if bars <= edge:
            return cls
    return len(LENGTH_EDGES)


def duration_class(sixteenths: int) -> int:
    """Index of the nearest duration class (ties go to the shorter)."""
    return min(range(len(DURATIONS)), key=lambda i: (abs(DURATIONS[i] - sixteenths), i))


def fold_pitch(pitch: int) -> int:
    """Move a pitch by octaves into the modelled range."""
    while pitch < PITCH_LOW:
        pitch += 12
    while pitch >= PITCH_HIGH:
        pitch -= 12
    return pitch


@dataclass(frozen=True)
class Vocabulary:
    """Token ids for one model (style tags differ per model; everything else is fixed)."""

    styles: tuple[str, ...]
    layout: int = LAYOUT  # 1: models 1.0 and 1.1 (no LEN, CONT, FINAL)

    def __post_init__(self) -> None:
        if self.layout not in (1, 2):
            raise ValueError(f"unknown vocabulary layout {self.layout}")
        extra = self.layout >= 2
        names = [*SPECIALS, *(LAYOUT_2_SPECIALS if extra else ()), "MODE_major", "MODE_minor",
                 *(f"METER_{m}" for m in METERS), *(f"LEN_{c}" for c in range(LENGTH_CLASSES) if extra),
                 *(f"STYLE_{s}" for s in self.styles), *(f"DENS_{d}" for d in range(DENSITY_CLASSES)),
                 *(f"POS_{p}" for p in range(MAX_POSITIONS)),
                 *(f"PITCH_{p}" for p in range(PITCH_LOW, PITCH_HIGH)), *(f"DUR_{d}" for d in DURATIONS)]
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "ids", {n: i for i, n in enumerate(names)})

    names: tuple[str, ...] = field(init=False, repr=False, compare=False)
    ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.names)

    def id(self, name: str) -> int:
        """Token id of `name`."""
        return self.ids[name]

    def range_of(self, prefix: str) -> range:
        """Contiguous ids of every token named `<prefix>_*`."""
        members = [i for n, i in self.ids.items() if n.startswith(prefix + "_") and n != "STYLE_none"]
        return range(members[0], members[-1] + 1)

    @property
    def marks_ends(self) -> bool:
        """Whether this layout has the LEN, CONT and FINAL tokens."""
        return self.layout >= 2

    def to_json(self) -> dict[str, object]:
        """What a checkpoint stores to rebuild the vocabulary."""
        return {"styles": list(self.styles), "layout": self.layout}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Vocabulary:
        """Inverse of to_json (a checkpoint without a layout is layout 1)."""
        styles = data.get("styles", [])
        if not isinstance(styles, list):
            raise ValueError("vocabulary styles must be a list")
        layout = data.get("layout", 1)
        if not isinstance(layout, int):
            raise ValueError("vocabulary layout must be an integer")
        return cls(tuple(str(s) for s in styles), layout)

    def prefix(self, mode: str, meter: int, styles: Iterable[str], bars: int = 0) -> list[int]:
        """Conditioning tokens: BOS, mode, meter, known styles (or STYLE_none), then (layout 2) the length class."""
        known = [s for s in sorted(set(styles)) if s in self.styles][:MAX_STYLES]
        tokens = [self.id("BOS"), self.id(f"MODE_{mode}"), self.id(f"METER_{meter}")]
        tokens += [self.id(f"STYLE_{s}") for s in known] or [self.id("STYLE_none")]
        if self.marks_ends:
            tokens.append(self.id(f"LEN_{length_class(bars)}"))
        return tokens

    def encode(self, notes: Sequence[tuple[int, int, int]], *, mode: str, meter: int,
               styles: Iterable[str] = ()) -> list[int]:
        """Tokens of a monophonic melody (onset, duration, pitch in sixteenths / MIDI), EOS included."""
        if meter not in METERS:
            raise ValueError(f"meter {meter} not modelled (known: {METERS})")
        bar_len = meter * 4
        if not notes:
            return [*self.prefix(mode, meter, styles, 0), self.id("EOS")]
        bars = max(onset for onset, _, _ in notes) // bar_len + 1
        tokens = self.prefix(mode, meter, styles, bars)
        by_bar: list[list[tuple[int, int, int]]] = [[] for _ in range(bars)]
        for onset, duration, pitch in notes:
            if onset >= 0 and duration > 0:
                by_bar[onset // bar_len].append((onset % bar_len, duration, pitch))
        for index, bar in enumerate(by_bar):
            tokens.append(self.id("BAR"))
            if self.marks_ends and index == bars - 1:
                tokens.append(self.id("FINAL"))
            tokens.append(self.id(f"DENS_{density_class(len(bar), meter)}"))
            for pos, duration, pitch in sorted(bar):
                tokens += [self.id(f"POS_{pos}"), self.id(f"PITCH_{fold_pitch(pitch)}"),
                           self.id(f"DUR_{DURATIONS[duration_class(duration)]}")]
        return [*tokens, self.id("EOS")]

    def decode(self, tokens: Sequence[int], meter: int) -> list[tuple[int, int, int]]:
        """Notes (onset, duration, pitch) of a token sequence; malformed triples are skipped."""
        bar_len = meter * 4
        notes: list[tuple[int, int, int]] = []
        bar = -1
        pos: int | None = None
        pitch: int | None = None
        for token in tokens:
            name = self.names[token]
            if name == "BAR":
                bar += 1
                pos = pitch = None
            elif name.startswith("POS_"):
                pos, pitch = int(name[4:]), None
            elif name.startswith("PITCH_") and pos is not None:
                pitch = int(name[6:])
            elif name.startswith("DUR_") and pos is not None and pitch is not None and bar >= 0:
                notes.append((bar * bar_len + pos, int(name[4:]), pitch))
                pos = pitch = None
            elif name == "EOS":
                break
        return notes
