"""Attribution of a job's output to its model's training works: the database and cache side of
provenance.attribution (which is pure).

The index of a training manifest is built once: every training work's asset is read (and hash-checked), its
melodies come from the corpus cache, their features go into an IVF index (provenance.attribution), which is
kept on disk keyed by the manifest's Merkle root and the method, and in memory per worker process. A job's
query is the feature vector of its composed melody; its style rows are the training works behind its style
references (requested tags the model knows, and artists the gate found named in the description).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings

from clearcue.exceptions import DomainError
from generation.models import GateDecision, GateStage, Job, ManifestEntry, TrainingManifest
from provenance import attribution


def _cache_path(manifest: TrainingManifest) -> Path:
    path = Path(settings.DATA_DIR) / "cache" / "attribution"
    path.mkdir(parents=True, exist_ok=True)
    from generation.engines.reference.corpus import EXTRACTOR_VERSION

    # The vectors depend on the melodies (extractor rules), the features (method) and the file layout.
    return path / f"{manifest.merkle_root}-{attribution.METHOD}-{attribution.INDEX_FORMAT}-{EXTRACTOR_VERSION}.npz"


def _build(manifest: TrainingManifest) -> attribution.AttributionIndex:
    """Features of every training work with a usable melody, indexed (works without one cannot be credited)."""
    from generation.engines.reference import corpus
    from generation.registry import cache_dir, read_checked_assets

    entries = ManifestEntry.objects.filter(manifest=manifest).select_related("work").order_by("position")
    items = read_checked_assets((e.work_key, e.work, e.asset_sha256) for e in entries.iterator(chunk_size=2000))
    processes = 1 if multiprocessing.current_process().daemon else 2  # Celery children may not fork pools
    extracted = corpus.extract_many(items, cache_dir(), processes=processes)
    keys, vectors = [], []
    for key in sorted(extracted, key=lambda k: k.encode()):
        result = extracted[key]
        if isinstance(result, Exception) or not result:
            continue
        try:
            vector = attribution.work_features([(m.notes, m.meter) for m in result])
        except attribution.FeatureError:
            continue
        keys.append(key)
        vectors.append(vector)
    import numpy as np

    return attribution.AttributionIndex.build(keys, np.stack(vectors) if vectors else np.zeros((0, 1)), seed=0)


@functools.lru_cache(maxsize=2)
def _index_for(manifest_id: int, merkle_root: str) -> attribution.AttributionIndex:
    # Keyed by the root too: a manifest never changes, but an id can name another manifest in another database
    # (a restored backup, a test database) within one process.
    manifest = TrainingManifest.objects.get(pk=manifest_id, merkle_root=merkle_root)
    path = _cache_path(manifest)
    if path.exists():
        try:
            return attribution.AttributionIndex.from_bytes(path.read_bytes())
        except (attribution.IndexFormatError, ValueError, KeyError, OSError):
            pass  # a damaged or outdated cache file is rebuilt
    index = _build(manifest)
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")  # concurrent builders never share a file
    with os.fdopen(handle, "wb") as out:
        out.write(index.to_bytes())
    os.replace(tmp, path)
    return index


def index_for(manifest: TrainingManifest) -> attribution.AttributionIndex:
    """The attribution index of a training manifest (built on first use, then cached on disk and in memory)."""
    return _index_for(manifest.pk, manifest.merkle_root)


def query_vector(job: Job) -> Any:
    """The features of the job's composed melody (its draft: nothing is read from storage)."""
    composition = job.draft.composition
    meter = int(composition["plan"]["meter"])
    notes = [tuple(int(v) for v in note) for note in composition["material"]]
    return attribution.melody_features(notes, meter)


def attribute_job(job: Job) -> attribution.Attribution:
    """The influence distribution of a job's output over its model's training works."""
    from generation.training import work_key
    from licensing.models import Work
    from provenance.chain import style_work_ids

    index = index_for(job.model.manifest)
    if len(index) == 0:
        raise DomainError("attribution_unavailable", "No training work of the model has a melody to attribute to.",
                          details={"model": job.model.slug})
    decision = GateDecision.objects.filter(job=job, stage=GateStage.PRE).first()
    style_ids = sorted({pk for _, _, ids in style_work_ids(job, decision) for pk in ids})
    style_keys = {work_key(w) for w in Work.objects.filter(pk__in=style_ids).select_related("collection")}
    rows = [row for row, key in enumerate(index.keys) if key in style_keys]
    return attribution.attribute(index, query_vector(job), style_rows=rows)
