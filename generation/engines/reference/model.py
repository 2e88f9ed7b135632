"""The reference composer's network: a small decoder-only transformer over `vocab` tokens (nanoGPT-shaped).

Config lives beside the model and is stored with the weights (`checkpoint_bytes` / `load_checkpoint`):
a checkpoint is a plain dict of tensors and JSON-able values, loaded with `torch.load(weights_only=True)`
only after its SHA-256 matched the pinned value. Inference keeps a key/value cache so sampling a token
costs one position, not the whole context.

Shapes: B batch, T time, C = d_model, H heads, D = C // H.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

CHECKPOINT_FORMAT = "clearcue.reference-composer.v1"


class CheckpointError(ValueError):
    """A checkpoint does not match its pinned SHA-256 or is not a reference-composer checkpoint."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters; stored in every checkpoint."""

    vocab_size: int
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 192
    dropout: float = 0.1


KVCache = list[tuple[Tensor, Tensor]]


class _Block(nn.Module):
    """Pre-norm attention + MLP block."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)
        self.dropout = cfg.dropout

    def forward(self, x: Tensor, past: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """x: (B, T, C); past: cached (B, H, T0, D) keys and values -> (B, T, C), new cache."""
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        # With a cache, the new queries sit at the end and may see every cached key: causal only without one.
        y = F.scaled_dot_product_attention(q, k, v, is_causal=past is None and t > 1,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(b, t, c)
        x = x + self.drop(self.proj(y))
        x = x + self.drop(self.mlp(self.ln2(x)))
        return x, (k, v)


class CueTransformer(nn.Module):
    """Token + position embeddings, `n_layer` blocks, tied output head."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos = nn.Embedding(cfg.block_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layer))
        self.ln = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok.weight
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx: Tensor, past: KVCache | None = None) -> tuple[Tensor, KVCache]:
        """idx: (B, T) token ids -> logits (B, T, vocab), cache covering all positions so far."""
        start = past[0][0].shape[2] if past else 0
        t = idx.shape[1]
        if start + t > self.cfg.block_size:
            raise ValueError(f"sequence of {start + t} exceeds block size {self.cfg.block_size}")
        positions = torch.arange(start, start + t, device=idx.device)
        x = self.drop(self.tok(idx) + self.pos(positions))
        cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, past[i] if past else None)
            cache.append(kv)
        return self.head(self.ln(x)), cache

    def loss(self, idx: Tensor, targets: Tensor) -> Tensor:
        """Cross-entropy of next-token prediction; targets -100 are ignored (padding)."""
        logits, _ = self(idx)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)

    def parameter_count(self) -> int:
        """Trainable parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())


def checkpoint_bytes(model: CueTransformer, *, vocab: dict[str, Any], training: dict[str, Any]) -> bytes:
    """Serialize weights (float16, to keep the shipped file small) with config, vocabulary and training facts."""
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()
             if k != "head.weight"}  # tied to tok.weight
    buffer = io.BytesIO()
    torch.save({"format": CHECKPOINT_FORMAT, "config": asdict(model.cfg), "vocab": vocab, "training": training,
                "state_dict": state}, buffer)
    return buffer.getvalue()


def load_checkpoint(data: bytes, sha256: str | None) -> tuple[CueTransformer, dict[str, Any]]:
    """Rebuild a model from checkpoint bytes after checking their SHA-256; returns (model in eval mode, payload)."""
    digest = hashlib.sha256(data).hexdigest()
    if sha256 is not None and digest != sha256:
        raise CheckpointError("checkpoint_sha256_mismatch",
                              f"checkpoint SHA-256 is {digest}, expected {sha256}: refusing to load it")
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError("checkpoint_unreadable", f"not a loadable checkpoint: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError("checkpoint_wrong_format", f"not a {CHECKPOINT_FORMAT} checkpoint")
    cfg = ModelConfig(**payload["config"])
    model = CueTransformer(cfg)
    state = {k: v.to(torch.float32) for k, v in payload["state_dict"].items()}
    state["head.weight"] = state["tok.weight"]
    model.load_state_dict(state)
    model.eval()
    return model, payload


def cosine_lr(step: int, total: int, peak: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warm-up then cosine decay to `floor` times peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
