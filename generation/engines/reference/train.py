"""Training the reference composer on melodies of cleared works (pure: torch, no Django).

Deterministic for a given seed, data and thread count: batches are drawn from a seeded generator, the
validation split is chosen by a hash of each example's source, and torch runs with a fixed thread count.
Returns the checkpoint bytes and the figures for the model card.

Style-tag dropout: with probability `style_dropout` a training window's style tokens are replaced by
STYLE_none, so the unconditioned model (what a cue whose plan names no known style runs under) learns the
corpus as a whole; without it only the handful of untagged melodies ever showed the model STYLE_none.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from generation.engines.reference.model import CueTransformer, ModelConfig, checkpoint_bytes, cosine_lr
from generation.engines.reference.vocab import METERS, Vocabulary

STYLE_KINDS = ("period", "composer", "genre")


@dataclass(frozen=True)
class Example:
    """One training melody with its conditioning (tonic already moved to C)."""

    source: str  # work key (+ tune index)
    notes: tuple[tuple[int, int, int], ...]
    mode: str
    meter: int
    styles: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides the weights (stored in the model card)."""

    seed: int = 0
    steps: int = 600  # optimizer steps; an epoch of the reference catalog is ~1,500 at batch size 16
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 50
    min_lr_fraction: float = 0.1  # cosine decay ends at this fraction of `lr`
    style_dropout: float = 0.15  # probability a training window is shown with STYLE_none instead of its tags
    weight_decay: float = 0.05
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 160
    dropout: float = 0.1
    min_style_count: int = 8
    max_style_tokens: int = 48
    val_fraction: float = 0.05
    threads: int = 2


@dataclass
class TrainResult:
    """A trained model's checkpoint and its figures."""

    checkpoint: bytes
    vocab: Vocabulary
    metrics: dict[str, Any] = field(default_factory=dict)


def choose_styles(examples: Sequence[Example], *, min_count: int, limit: int) -> tuple[str, ...]:
    """The style tags worth a token: of a known kind, carried by at least `min_count` examples, most common first."""
    counts = Counter(s for e in examples for s in set(e.styles) if s.split(":", 1)[0] in STYLE_KINDS)
    ranked = sorted((s for s, c in counts.items() if c >= min_count), key=lambda s: (-counts[s], s))
    return tuple(sorted(ranked[:limit]))


def windows(vocab: Vocabulary, example: Example, block_size: int) -> list[list[int]]:
    """Token windows of at most block_size + 1 tokens, each starting at a bar and repeating the conditioning.

    A window that starts inside the melody carries CONT after the conditioning (layout 2), so only real
    openings teach the model how a melody begins (a pickup, a sparse first bar) and which kind of melody
    the conditioning calls for: without it a long melody cut into many windows counted as many openings.
    """
    tokens = vocab.encode(example.notes, mode=example.mode, meter=example.meter, styles=example.styles)
    if len(tokens) <= block_size + 1:
        return [tokens]
    bar = vocab.id("BAR")
    prefix_len = tokens.index(bar)
    prefix, body = tokens[:prefix_len], tokens[prefix_len:]
    cont = [vocab.id("CONT")] if vocab.marks_ends else []
    bar_starts = [i for i, t in enumerate(body) if t == bar]
    out = []
    for i, start in enumerate(bar_starts):
        if i % 4:  # a new window every four bars: overlap without quadrupling the data
            continue
        head = prefix + (cont if start else [])
        room = block_size + 1 - len(head)
        out.append(head + body[start:start + room])
        if start + room >= len(body):
            break
    return out


def _is_validation(source: str, fraction: float) -> bool:
    return int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < fraction


def without_styles(vocab: Vocabulary, row: list[int]) -> list[int]:
    """The same window conditioned on STYLE_none: its style tokens (after BOS, mode, meter) become one STYLE_none."""
    none = vocab.id("STYLE_none")
    styles = set(vocab.range_of("STYLE")) if vocab.styles else set()
    end = 3
    while end < len(row) and (row[end] in styles or row[end] == none):
        end += 1
    return [*row[:3], none, *row[end:]]


def _batch(rows: list[list[int]], picks: torch.Tensor, block_size: int,
           transform: Callable[[list[int]], list[int]] | None = None, drop: list[bool] | None = None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros((len(picks), block_size), dtype=torch.long)
    y = torch.full((len(picks), block_size), -100, dtype=torch.long)
    for b, i in enumerate(picks.tolist()):
        row = rows[i]
        if transform is not None and drop is not None and drop[b]:
            row = transform(row)
        n = len(row) - 1
        x[b, :n] = torch.tensor(row[:-1])
        y[b, :n] = torch.tensor(row[1:])
    return x, y


def train(examples: Sequence[Example], cfg: TrainConfig, *, log: Callable[[str], None] = lambda _: None
          ) -> TrainResult:
    """Train a model on `examples` and return its checkpoint and figures."""
    examples = [e for e in examples if e.meter in METERS and e.notes]
    if not examples:
        raise ValueError("no usable training melodies (meters 2/3/4 with notes)")
    torch.manual_seed(cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    started = time.perf_counter()
    try:
        vocab = Vocabulary(choose_styles(examples, min_count=cfg.min_style_count, limit=cfg.max_style_tokens))
        train_rows: list[list[int]] = []
        val_rows: list[list[int]] = []
        for example in examples:
            target = val_rows if _is_validation(example.source, cfg.val_fraction) else train_rows
            target.extend(windows(vocab, example, cfg.block_size))
        if not train_rows:
            train_rows, val_rows = val_rows, []
        model_cfg = ModelConfig(vocab_size=len(vocab), block_size=cfg.block_size, n_layer=cfg.n_layer,
                                n_head=cfg.n_head, d_model=cfg.d_model, dropout=cfg.dropout)
        model = CueTransformer(model_cfg)
        decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
        generator = torch.Generator().manual_seed(cfg.seed)
        model.train()
        recent: list[float] = []

        def unstyled(row: list[int]) -> list[int]:
            return without_styles(vocab, row)

        for step in range(cfg.steps):
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, cfg.steps, cfg.lr, cfg.warmup, cfg.min_lr_fraction)
            picks = torch.randint(len(train_rows), (cfg.batch_size,), generator=generator)
            # Drawn only when dropout is on, so a config without it consumes the generator as before.
            drop = ((torch.rand(cfg.batch_size, generator=generator) < cfg.style_dropout).tolist()
                    if cfg.style_dropout > 0 else None)
            x, y = _batch(train_rows, picks, cfg.block_size, unstyled, drop)
            loss = model.loss(x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            recent = [*recent[-49:], loss.item()]
            if step % 100 == 0 or step == cfg.steps - 1:
                log(f"step {step + 1}/{cfg.steps} loss {sum(recent) / len(recent):.3f}")
        model.eval()
        val_loss = _evaluate(model, val_rows, cfg.block_size) if val_rows else None
        seconds = time.perf_counter() - started
        tokens = sum(len(r) - 1 for r in train_rows)
        metrics: dict[str, Any] = {
            "train_loss": round(sum(recent) / len(recent), 4),
            "validation_loss": None if val_loss is None else round(val_loss, 4),
            "training_windows": len(train_rows), "validation_windows": len(val_rows),
            "training_tokens": tokens, "examples": len(examples),
            "tokens_seen": cfg.steps * cfg.batch_size * cfg.block_size,
            "epochs": round(cfg.steps * cfg.batch_size / len(train_rows), 2),
            "parameters": model.parameter_count(), "seconds": round(seconds, 1),
        }
        # Wall time stays out of the checkpoint so the same seed and data give byte-identical weights files.
        training = {"config": asdict(cfg), "metrics": {k: v for k, v in metrics.items() if k != "seconds"}}
        return TrainResult(checkpoint_bytes(model, vocab=vocab.to_json(), training=training), vocab, metrics)
    finally:
        torch.set_num_threads(threads)


@torch.inference_mode()
def _evaluate(model: CueTransformer, rows: list[list[int]], block_size: int) -> float:
    total, count = 0.0, 0
    for start in range(0, len(rows), 32):
        chunk = rows[start:start + 32]
        x, y = _batch(chunk, torch.arange(len(chunk)), block_size)
        n = int((y != -100).sum())
        total += float(model.loss(x, y)) * n
        count += n
    return total / max(1, count)
