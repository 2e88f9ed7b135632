"""The memorization guard: how long a run of an output's melody does it share with any training work?

Built per model from its training manifest: every work's asset is read (and hash-checked), its melodies are
extracted through the corpus cache, and their (interval, duration) events go into a suffix automaton
(generation.engines.reference.metrics.MemorizationIndex). Checking an output is then linear in the output's
length, whatever the size of the training set. The index is built once per worker process and model.
"""

from __future__ import annotations

import functools
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from clearcue.exceptions import DomainError
from generation.models import GenerationModel, ManifestEntry


@dataclass(frozen=True)
class RunCheck:
    """The longest run an output shares with the training set."""

    events: int
    longest_run: int
    source: str  # "<work key>" of the training work
    melody_index: int
    output_position: int


@functools.lru_cache(maxsize=2)
def _index(manifest_id: int, merkle_root: str) -> Any:
    """The memorization index of a manifest; keyed by its root too, as an id can name another manifest in
    another database within one process (a restored backup, a test database)."""
    from generation.engines.reference import corpus
    from generation.engines.reference.metrics import MemorizationIndex, events_of
    from generation.registry import cache_dir, read_checked_assets

    entries = ManifestEntry.objects.filter(manifest_id=manifest_id).select_related("work").order_by("position")
    items = read_checked_assets((e.work_key, e.work, e.asset_sha256) for e in entries.iterator(chunk_size=2000))
    # Celery's prefork children are daemons and may not start process pools: extract in-process there.
    processes = 1 if multiprocessing.current_process().daemon else 2
    extracted = corpus.extract_many(items, cache_dir(), processes=processes)
    melodies = ((key, melody.index, events_of(melody.notes))
                for key, result in extracted.items() if not isinstance(result, Exception) for melody in result)
    return MemorizationIndex(melodies)


def melody_events(engine_name: str, material: Any) -> list[tuple[int, int]]:
    """The melody events of an engine's composed material (the reference composer: its melody notes)."""
    from generation.engines.reference.metrics import events_of

    if engine_name != "clearcue-reference-composer":
        raise DomainError("guard_unsupported",
                          f"The memorization guard cannot read material of engine {engine_name!r}.")
    return events_of([tuple(note) for note in material])


def check(model: GenerationModel, events: Sequence[tuple[int, int]]) -> RunCheck:
    """The longest run of `events` found consecutively in one training melody of the model's manifest."""
    run, position = _index(model.manifest_id, model.manifest.merkle_root).locate(events)
    return RunCheck(len(events), run.length, run.source, run.melody_index, position)
