"""The named virtual instruments an arrangement can use: range, General MIDI program, stereo position.

Pure data. The built-in synthesizer gives each a timbre; the FluidSynth renderer and the MIDI exporter use
the General MIDI program (percussion on channel 10 with its GM key); MusicXML uses the display name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    """One virtual instrument."""

    name: str
    display: str
    family: str  # strings, brass, woodwinds, keyboard, voices, percussion
    gm_program: int  # 0-based General MIDI program (ignored for percussion)
    low: int  # lowest MIDI pitch it plays
    high: int  # highest
    pan: float  # -1 left .. +1 right
    percussion: bool = False
    gm_drum_key: int = 0  # GM percussion key when percussion
    sustained: bool = True  # holds a note (bowed, blown, sung) rather than decaying (plucked, struck)


_ALL = (
    Instrument("strings", "String Ensemble", "strings", 48, 28, 100, 0.0),
    Instrument("violins", "Violins", "strings", 40, 55, 103, -0.45),
    Instrument("violas", "Violas", "strings", 41, 48, 88, -0.15),
    Instrument("cellos", "Violoncellos", "strings", 42, 36, 76, 0.3),
    Instrument("contrabass", "Contrabasses", "strings", 43, 28, 60, 0.45),
    Instrument("pizzicato", "Strings (pizzicato)", "strings", 45, 28, 96, 0.1, sustained=False),
    Instrument("brass", "Brass Section", "brass", 61, 34, 84, 0.2),
    Instrument("horn", "Horns in F", "brass", 60, 34, 77, -0.25),
    Instrument("trumpet", "Trumpets in B-flat", "brass", 56, 54, 86, 0.2),
    Instrument("trombone", "Trombones", "brass", 57, 34, 72, 0.35),
    Instrument("tuba", "Tuba", "brass", 58, 26, 58, 0.4),
    Instrument("woodwinds", "Woodwind Ensemble", "woodwinds", 71, 48, 96, -0.1),
    Instrument("flute", "Flute", "woodwinds", 73, 60, 98, -0.3),
    Instrument("oboe", "Oboe", "woodwinds", 68, 58, 91, -0.15),
    Instrument("clarinet", "Clarinet in B-flat", "woodwinds", 71, 50, 94, 0.1),
    Instrument("bassoon", "Bassoon", "woodwinds", 70, 34, 75, 0.25),
    Instrument("piano", "Piano", "keyboard", 0, 21, 108, 0.0, sustained=False),
    Instrument("harp", "Harp", "strings", 46, 24, 103, -0.35, sustained=False),
    Instrument("celesta", "Celesta", "keyboard", 8, 60, 108, 0.3, sustained=False),
    Instrument("choir_pad", "Choir (Aahs)", "voices", 52, 40, 81, 0.0),
    Instrument("synth_pad", "Synth Pad", "keyboard", 89, 36, 96, 0.0),
    Instrument("timpani", "Timpani", "percussion", 47, 38, 57, 0.15, sustained=False),
    Instrument("low_percussion", "Low Percussion (taiko)", "percussion", 116, 36, 36, 0.0, percussion=True,
               gm_drum_key=35, sustained=False),
    Instrument("cymbal", "Suspended Cymbal", "percussion", 0, 49, 49, 0.1, percussion=True, gm_drum_key=49,
               sustained=False),
)

INSTRUMENTS: dict[str, Instrument] = {i.name: i for i in _ALL}


def instrument(name: str) -> Instrument:
    """The instrument called `name`; KeyError names the known ones."""
    try:
        return INSTRUMENTS[name]
    except KeyError:
        raise KeyError(f"unknown instrument {name!r}; known: {', '.join(sorted(INSTRUMENTS))}") from None


def fit_range(pitch: int, name: str) -> int:
    """Move `pitch` by octaves into the instrument's range (percussion keeps its fixed key)."""
    inst = instrument(name)
    if inst.percussion:
        return inst.gm_drum_key
    while pitch < inst.low:
        pitch += 12
    while pitch > inst.high:
        pitch -= 12
    return max(inst.low, pitch)
