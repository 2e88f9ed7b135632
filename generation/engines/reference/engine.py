"""The reference film-cue composer: planner + constrained transformer + arranger + synthesizer (no Django).

`ReferenceComposer.load(checkpoint, sha256, config)` pins the weights by SHA-256 and loads them with
`weights_only=True`. `cue()` runs the whole pipeline with per-stage timings; `revise()` changes tempo,
instrumentation or intensity while keeping the plan's bars and the composed melody, so a changed cue is
heard again after only arrangement and rendering.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from generation.engines.base import Composition
from generation.engines.instruments import INSTRUMENTS
from generation.engines.reference import arrange as arranger
from generation.engines.reference.model import CueTransformer, load_checkpoint
from generation.engines.reference.sample import BarSpec, SamplingSpec, sample_melody
from generation.engines.reference.vocab import DENSITY_CLASSES, Vocabulary, density_class
from generation.engines.score import CuePlan, HitPoint, Score, Section, scale_of

ENGINE_NAME = "clearcue-reference-composer"


@dataclass(frozen=True)
class Cue:
    """One finished cue: plan, composition, score, audio and how long each stage took."""

    plan: CuePlan
    composition: Composition
    score: Score
    audio: np.ndarray
    sample_rate: int
    timings: dict[str, float]


def notes_per_second(intensity: float) -> float:
    """Melodic activity the plan asks for at an intensity (0 -> about one note every two seconds)."""
    return 0.5 + 2.8 * intensity


def bar_specs(plan: CuePlan) -> list[BarSpec]:
    """Per-bar sampling constraints from the plan: density from intensity and tempo, scale from mode, cadences."""
    specs = []
    for section in plan.sections:
        scale = scale_of(section.mode) + ((11,) if section.mode == "minor" else ())
        triad = (0, 4, 7) if section.mode == "major" else (0, 3, 7)
        bar_seconds = plan.meter * 60.0 / section.tempo
        for i in range(section.bars):
            intensity = section.intensity_at((i + 0.5) / section.bars)
            target = max(1, min(plan.meter * 4, round(notes_per_second(intensity) * bar_seconds)))
            density = min(DENSITY_CLASSES - 1, density_class(target, plan.meter))
            specs.append(BarSpec(density, tuple(sorted(set(scale))), cadence=i == section.bars - 1 and
                                 section.bars > 1, tonic_triad=triad))
    return specs


def _retime(plan: CuePlan, sections: Sequence[Section]) -> CuePlan:
    """Recompute section times and hit-point times after tempo changes (bars and beats stay)."""
    out: list[Section] = []
    t = 0.0
    for section in sections:
        end = t + section.bars * plan.meter * 60.0 / section.tempo
        out.append(replace(section, start=t, end=end))
        t = end
    tempo = CuePlan(plan.description, plan.meter, tuple(out)).tempo_map()
    hits = tuple(HitPoint(h.label, h.requested, h.bar, h.beat, tempo.seconds(h.beat)) for h in plan.hit_points)
    return replace(plan, sections=tuple(out), hit_points=hits)


class ReferenceComposer:
    """Clearcue's own engine; every weight was learned from works in a training manifest."""

    name = ENGINE_NAME

    def __init__(self, model: CueTransformer, vocab: Vocabulary, payload: dict[str, Any] | None = None) -> None:
        self.model = model
        self.vocab = vocab
        self.payload = payload or {}
        self.style_tags: tuple[str, ...] = vocab.styles

    @classmethod
    def load(cls, checkpoint: bytes, sha256: str | None, config: dict[str, Any] | None = None) -> ReferenceComposer:
        """Load pinned weights (CheckpointError on a SHA-256 mismatch)."""
        model, payload = load_checkpoint(checkpoint, sha256)
        return cls(model, Vocabulary.from_json(payload["vocab"]), payload)

    def plan(self, description: str, params: Any = None) -> CuePlan:
        """Plan a cue (see `reference.plan`)."""
        from generation.engines.reference.plan import PlanParams, plan_cue

        return plan_cue(description, params if params is not None else PlanParams())

    def compose(self, plan: CuePlan, *, seed: int) -> Composition:
        """Sample the melody under the plan's constraints."""
        started = time.perf_counter()
        first = plan.sections[0]
        spec = SamplingSpec(mode=first.mode, meter=plan.meter, styles=plan.style_tags, bars=tuple(bar_specs(plan)))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one-token steps: threading costs more than it saves
        try:
            melody, _ = sample_melody(self.model, self.vocab, spec, seed=seed)
        finally:
            torch.set_num_threads(threads)
        return Composition(plan, tuple(melody), seed, {"compose": time.perf_counter() - started})

    def arrange(self, composition: Composition) -> Score:
        """Orchestrate the composition."""
        return arranger.arrange(composition.plan, composition.material)

    def render(self, score: Score, *, sample_rate: int = 48000, renderer: str = "builtin") -> np.ndarray:
        """Audio of the score: the built-in synthesizer, or FluidSynth with a General MIDI SoundFont."""
        if renderer == "fluidsynth":
            from generation.engines import fluidsynth

            return fluidsynth.render(score, sample_rate=sample_rate)
        if renderer != "builtin":
            raise ValueError(f"unknown renderer {renderer!r} (builtin, fluidsynth)")
        from generation.engines import synth

        return synth.render(score.timed(), sample_rate=sample_rate, duration=score.duration)

    def revise(self, composition: Composition, *, tempo: float | None = None,
               instruments: Sequence[str] | None = None,
               intensity: Sequence[tuple[float, float]] | None = None) -> Composition:
        """Change tempo (BPM, all sections), instrumentation or the intensity curve; keep bars and melody."""
        plan = composition.plan
        sections = list(plan.sections)
        if instruments is not None:
            unknown = [n for n in instruments if n not in INSTRUMENTS]
            if unknown or not instruments:
                raise ValueError(f"unknown or missing instruments: {unknown}")
            sections = [replace(s, instruments=tuple(instruments)) for s in sections]
        if tempo is not None:
            if not 40 <= tempo <= 200:
                raise ValueError("tempo must be within 40..200 BPM")
            base = sections[0].tempo
            sections = [replace(s, tempo=round(s.tempo * tempo / base, 3)) for s in sections]
        revised = _retime(plan, sections)
        if intensity is not None:
            from generation.engines.reference.plan import check_curve, curve_at

            curve = check_curve(intensity)  # PlanError (a ValueError) names the bad point
            revised = replace(revised, sections=tuple(
                replace(s, intensity_start=curve_at(curve, s.start), intensity_end=curve_at(curve, s.end))
                for s in revised.sections))
        return Composition(revised, composition.material, composition.seed)

    def cue(self, description: str, params: Any = None, *, seed: int = 0, sample_rate: int = 48000,
            renderer: str = "builtin") -> Cue:
        """Plan, compose, arrange and render a cue, timing each stage."""
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        plan = self.plan(description, params)
        timings["plan"] = time.perf_counter() - t0
        composition = self.compose(plan, seed=seed)
        timings["compose"] = composition.timings["compose"]
        return self._finish(composition, timings, sample_rate, renderer)

    def rerender(self, composition: Composition, *, sample_rate: int = 48000, renderer: str = "builtin") -> Cue:
        """Arrange and render an existing (possibly revised) composition."""
        return self._finish(composition, {}, sample_rate, renderer)

    def _finish(self, composition: Composition, timings: dict[str, float], sample_rate: int, renderer: str) -> Cue:
        t0 = time.perf_counter()
        score = self.arrange(composition)
        timings["arrange"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        audio = self.render(score, sample_rate=sample_rate, renderer=renderer)
        timings["render"] = time.perf_counter() - t0
        return Cue(composition.plan, composition, score, audio, sample_rate, timings)
