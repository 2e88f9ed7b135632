"""The interface every generator engine implements, and the registry that finds engines by name.

Pure (no Django). An engine turns a scene description into a cue in stages: `plan` (what the cue must be),
`compose` (the notes, as a `Composition` the engine can revise), `arrange` (orchestrated `Score`) and
`render` (audio). Jobs, the gate and provenance talk only to this interface. Engines are looked up by
name and imported lazily, so a web process never imports torch.

Adding an engine: implement `Engine` in a module of `generation/engines/`, add it to `ENGINES`, and register a
model that names it (`manage.py register_model` / `do_register_model`); see README, "Adding an engine".
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from generation.engines.score import CuePlan, Score

# engine name -> "module:factory"; the factory takes (checkpoint bytes, pinned sha256, config) -> Engine.
ENGINES: dict[str, str] = {
    "clearcue-reference-composer": "generation.engines.reference.engine:ReferenceComposer.load",
}


@dataclass(frozen=True)
class Composition:
    """What an engine composed for a plan: kept so a revision can re-arrange and re-render without recomposing."""

    plan: CuePlan
    material: Any  # engine-specific symbolic material (the reference composer: melody in sixteenths)
    seed: int
    timings: Mapping[str, float] = field(default_factory=dict)


class Engine(Protocol):
    """A generator behind Clearcue's gate: plan, compose, arrange, render, revise."""

    name: str
    style_tags: tuple[str, ...]

    def plan(self, description: str, params: Any = None) -> CuePlan:
        """A plan for a scene description (params override what the text implies)."""
        ...

    def compose(self, plan: CuePlan, *, seed: int) -> Composition:
        """The notes for a plan."""
        ...

    def arrange(self, composition: Composition) -> Score:
        """The orchestrated score."""
        ...

    def render(self, score: Score, *, sample_rate: int = 48000, renderer: str = "builtin") -> np.ndarray:
        """Audio, float32 (frames, channels)."""
        ...

    def revise(self, composition: Composition, **changes: Any) -> Composition:
        """The same material under a changed plan (tempo, instruments, intensity), without recomposing."""
        ...


class EngineError(LookupError):
    """An engine name that is not registered."""

    code = "unknown_engine"


def load_engine(name: str, checkpoint: bytes, sha256: str, config: Mapping[str, Any] | None = None) -> Engine:
    """Instantiate engine `name` from a checkpoint pinned by SHA-256 (the engine refuses a mismatch)."""
    try:
        target = ENGINES[name]
    except KeyError:
        raise EngineError(f"engine {name!r} is not registered (known: {', '.join(sorted(ENGINES))})") from None
    module_name, _, attr = target.partition(":")
    factory: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        factory = getattr(factory, part)
    engine: Engine = factory(checkpoint, sha256, dict(config or {}))
    return engine
