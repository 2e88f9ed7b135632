"""Watermark payloads from allocation serials: a fixed bijection, so two outputs can never share a payload.

The database hands out serials (the primary key of `provenance.WatermarkPayload`, unique by construction);
the payload embedded in the audio is ``scramble(serial, bits)``. A bijection of the serial space cannot map
two serials to one payload, and the unique (alg, value) constraint stands behind it. Scrambling is not a
secret (the watermark key protects the mark itself): it spreads consecutive serials over the whole payload
space, so neighbouring outputs differ in about half their bits and a decoding error cannot land on the
neighbour of the right payload, and the payload does not reveal how many outputs came before.

The permutation is a balanced Feistel network (Luby-Rackoff) over ``bits`` bits with SHA-256 round functions
under fixed, public round labels. It must never change: payloads already embedded in published audio are
resolved through the database, but a changed permutation could re-issue one of them.
"""

from __future__ import annotations

import hashlib

ROUNDS = 8
_LABEL = b"clearcue/payload-permutation/v1"


def _round(value: int, round_index: int, half_bits: int) -> int:
    """The Feistel round function: SHA-256 of (label, round, half) truncated to the half's width."""
    digest = hashlib.sha256(_LABEL + bytes([round_index]) + value.to_bytes(8, "big")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << half_bits) - 1)


def _check(value: int, bits: int) -> None:
    if bits < 2 or bits % 2 or bits > 64:
        raise ValueError("bits must be an even number between 2 and 64")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < (1 << bits):
        raise ValueError(f"value must be an integer in [0, 2**{bits})")


def scramble(serial: int, bits: int = 32) -> int:
    """The payload for allocation serial `serial` (a permutation of [0, 2**bits))."""
    _check(serial, bits)
    half = bits // 2
    mask = (1 << half) - 1
    left, right = serial >> half, serial & mask
    for index in range(ROUNDS):
        left, right = right, left ^ _round(right, index, half)
    return (left << half) | right


def unscramble(payload: int, bits: int = 32) -> int:
    """The allocation serial of `payload` (the inverse of :func:`scramble`)."""
    _check(payload, bits)
    half = bits // 2
    mask = (1 << half) - 1
    left, right = payload >> half, payload & mask
    for index in reversed(range(ROUNDS)):
        left, right = right ^ _round(left, index, half), left
    return (left << half) | right
