"""Constrained sampling: the transformer writes the melody, the plan decides what it may write.

Pure (torch, no Django). The sampler walks the token grammar (BAR, DENS, then POS/PITCH/DUR triples) and
at every step masks the logits to the tokens that keep the plan:
- bar count: exactly `len(bars)` bars, then EOS; the model is told the length class and which bar is the
  last (layout 2 vocabularies), so it can write an opening, a closing bar and the density of such a melody;
- density: each bar's DENS token is forced from the plan, and the note count of the bar is held inside
  that class (no BAR before its minimum, no more notes after its maximum);
- key and mode: pitches only from the bar's scale (relative to C; the arranger transposes to the tonic);
- monophony: a note starts after the previous one ends, and ends inside its bar;
- cadences: the last bar of every section holds one tonic-triad note for the whole bar, so section
  boundaries are audible phrase ends.
Within those masks it samples with temperature and nucleus (top-p) from a seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from generation.engines.reference.model import CueTransformer, KVCache
from generation.engines.reference.vocab import (
    DENSITY_CLASSES,
    DENSITY_EDGES,
    DURATIONS,
    PITCH_HIGH,
    PITCH_LOW,
    Vocabulary,
)


@dataclass(frozen=True)
class BarSpec:
    """What one bar must be."""

    density: int  # density class 0..DENSITY_CLASSES-1; negative: let the model choose
    scale: tuple[int, ...]  # allowed pitch classes (relative to C)
    cadence: bool = False  # last bar of a section: one tonic-triad note held for the bar
    tonic_triad: tuple[int, ...] = (0, 4, 7)


@dataclass(frozen=True)
class SamplingSpec:
    """The melody to write: conditioning and per-bar constraints."""

    mode: str
    meter: int
    styles: tuple[str, ...]
    bars: tuple[BarSpec, ...]
    # Cues sample at the model's own temperature with a 0.95 nucleus: the cut drops the rarest ~5% of each
    # choice (odd leaps, stray rhythms) that a plan-constrained cue cannot recover from; free sampling for
    # the statistics uses top_p = 1.0 so it measures the model's whole distribution.
    temperature: float = 1.0
    top_p: float = 0.95
    center: int = 72  # pitches drift back toward this register
    max_leap: int = 12
    register_pull: float = 0.02  # logit penalty per semitone from `center`; 0 leaves the register to the model


def free_spec(mode: str, meter: int, styles: tuple[str, ...], bars: int, scale: tuple[int, ...]) -> SamplingSpec:
    """A spec that imposes only the bar count and the scale: the model's own distribution otherwise.

    Every bar's density is left to the model, the nucleus is not truncated and the register is not pulled;
    pass all 12 pitch classes as `scale` to leave the pitches to it too. `styles` should be the conditioning
    the statistics are compared against (a training melody's own tags). Under no known tag (STYLE_none) a
    model trained with style dropout writes the corpus as a whole; one trained without it had seen STYLE_none
    on 5 of ~11.8k melodies and under-filled its bars by ~40%.
    """
    return SamplingSpec(mode=mode, meter=meter, styles=styles, top_p=1.0, max_leap=24, register_pull=0.0,
                        bars=tuple(BarSpec(-1, scale) for _ in range(bars)))


def density_bounds(density: int, meter: int) -> tuple[int, int]:
    """Min and max notes in a bar of this meter for a density class (the inverse of vocab.density_class)."""
    scale = meter / 4
    low = 0 if density == 0 else int(DENSITY_EDGES[density - 1] * scale) + 1
    high = int(DENSITY_EDGES[density] * scale) if density < len(DENSITY_EDGES) else meter * 4
    return max(0, low), max(low, high)


class _Decoder:
    """Feeds tokens to the model one at a time with a KV cache, re-priming when the context is full."""

    def __init__(self, model: CueTransformer, prefix: list[int], cont: int | None = None) -> None:
        self.model = model
        self.prefix = prefix
        self.cont = [] if cont is None else [cont]  # marks a context that starts inside the melody, as in training
        self.body: list[int] = []
        self.past: KVCache | None = None
        self.logits = self._prime(prefix)

    def _prime(self, tokens: list[int]) -> torch.Tensor:
        out: tuple[torch.Tensor, KVCache] = self.model(torch.tensor([tokens]))  # nn.Module.__call__ is untyped
        logits, self.past = out
        return logits[0, -1]

    def push(self, token: int, bar_token: int) -> None:
        self.body.append(token)
        assert self.past is not None
        if self.past[0][0].shape[2] + 1 > self.model.cfg.block_size:
            # Keep the conditioning and the most recent half-context, starting at a bar line as in training.
            keep = self.body[-(self.model.cfg.block_size // 2):]
            while keep and keep[0] != bar_token:
                keep = keep[1:]
            self.logits = self._prime(self.prefix + self.cont + (keep or [token]))
            return
        logits, self.past = self.model(torch.tensor([[token]]), self.past)
        self.logits = logits[0, -1]


def _pick(logits: torch.Tensor, allowed: Sequence[int], spec: SamplingSpec, gen: torch.Generator,
          bias: torch.Tensor | None = None) -> int:
    ids = torch.tensor(allowed)
    scores = logits[ids] / max(1e-4, spec.temperature)
    if bias is not None:
        scores = scores + bias
    probs = torch.softmax(scores, dim=0)
    order = torch.argsort(probs, descending=True)
    cumulative = torch.cumsum(probs[order], dim=0)
    cut = int(torch.searchsorted(cumulative, torch.tensor(spec.top_p))) + 1
    kept = order[:cut]
    choice = torch.multinomial(probs[kept] / probs[kept].sum(), 1, generator=gen)
    return int(ids[kept[choice]])


@torch.inference_mode()
def sample_melody(model: CueTransformer, vocab: Vocabulary, spec: SamplingSpec, *, seed: int
                  ) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Notes (onset, duration, pitch; sixteenths, C-relative) obeying `spec`, and the tokens that encode them."""
    gen = torch.Generator().manual_seed(seed)
    bar_len = spec.meter * 4
    prefix = vocab.prefix(spec.mode, spec.meter, spec.styles, len(spec.bars))
    decoder = _Decoder(model, prefix, vocab.id("CONT") if vocab.marks_ends else None)
    bar_id, eos_id = vocab.id("BAR"), vocab.id("EOS")
    pos0 = vocab.id("POS_0")
    dens0 = vocab.id("DENS_0")
    pitch0 = vocab.id(f"PITCH_{PITCH_LOW}")
    dur_ids = {d: vocab.id(f"DUR_{d}") for d in DURATIONS}
    notes: list[tuple[int, int, int]] = []
    previous_pitch = spec.center
    for bar_index, bar in enumerate(spec.bars):
        decoder.push(bar_id, bar_id)
        if vocab.marks_ends and bar_index == len(spec.bars) - 1:
            decoder.push(vocab.id("FINAL"), bar_id)  # the model writes a closing bar, as melodies end
        if bar.density < 0 and not bar.cadence:  # free: the model chooses how busy the bar is
            density = _pick(decoder.logits, [dens0 + d for d in range(DENSITY_CLASSES)], spec, gen) - dens0
        else:
            density = min(DENSITY_CLASSES - 1, max(0, bar.density if not bar.cadence else 0))
        decoder.push(dens0 + density, bar_id)
        low, high = density_bounds(density, spec.meter)
        if bar.cadence:
            low, high = 1, 1
        cursor, count = 0, 0
        while cursor < bar_len and count < high:
            # Position: from the cursor on; leave room for the notes this bar still owes.
            owed = max(0, low - count)
            last_start = bar_len - max(1, owed)
            positions = list(range(cursor, last_start + 1))
            if bar.cadence:
                positions = [0]
            allowed = [pos0 + p for p in positions]
            if count >= low and not bar.cadence:
                allowed.append(bar_id)
            if not allowed:
                break
            token = _pick(decoder.logits, allowed, spec, gen)
            if token == bar_id:
                break
            pos = token - pos0
            decoder.push(token, bar_id)
            # Pitch: scale tones in range, no leap beyond max_leap; a gentle pull toward the centre register.
            pcs = bar.tonic_triad if bar.cadence else bar.scale
            pitches = [p for p in range(PITCH_LOW, PITCH_HIGH)
                       if p % 12 in pcs and abs(p - previous_pitch) <= spec.max_leap]
            if not pitches:
                pitches = [p for p in range(PITCH_LOW, PITCH_HIGH) if p % 12 in pcs]
            pull = torch.tensor([-spec.register_pull * abs(p - spec.center) for p in pitches])
            token = _pick(decoder.logits, [pitch0 + p - PITCH_LOW for p in pitches], spec, gen,
                          pull if spec.register_pull else None)
            pitch = token - pitch0 + PITCH_LOW
            decoder.push(token, bar_id)
            # Duration: ends inside the bar and leaves room for the notes still owed.
            room = bar_len - pos - max(0, low - count - 1)
            durations = [d for d in DURATIONS if d <= room] or [1]
            if bar.cadence:
                durations = [max(d for d in DURATIONS if d <= bar_len)]
            token = _pick(decoder.logits, [dur_ids[d] for d in durations], spec, gen)
            duration = DURATIONS[[dur_ids[d] for d in DURATIONS].index(token)]
            decoder.push(token, bar_id)
            notes.append((bar_index * bar_len + pos, duration, pitch))
            previous_pitch = pitch
            cursor = pos + duration
            count += 1
    decoder.push(eos_id, bar_id)
    return notes, prefix + decoder.body
