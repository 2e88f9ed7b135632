"""The fixed vocabulary of rights: license uses, reservable uses, territories, and reservation records.

Pure and Django-free. Every other part of licensing (catalog ingestion, opt-out intake parsers, rights
evaluation, the API) speaks in these terms, so a parser of a new opt-out format only has to produce
`Reservation` values and never touches the database.

Uses are stored as bit masks so that SQL can test "does this license grant use U" and "does this opt-out
reserve anything that blocks U" with one integer AND on any database.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Use(enum.StrEnum):
    """What a license can permit (and what rights evaluation is asked about)."""

    AI_TRAINING = "ai_training"
    STYLE_REFERENCE = "style_reference"
    DERIVATIVE_GENERATION = "derivative_generation"
    COMMERCIAL_OUTPUT = "commercial_output"
    NON_COMMERCIAL_OUTPUT = "non_commercial_output"


USE_BITS: dict[Use, int] = {use: 1 << position for position, use in enumerate(Use)}
ALL_USES_MASK = sum(USE_BITS.values())


class ReservedUse(enum.StrEnum):
    """What an opt-out can reserve. The names follow the formats in the wild (CAWG, aipref, TDM·AI)."""

    ALL = "all"  # every use below (TDM·AI `all`, aipref `all` in early drafts, a direct "everything")
    DATA_MINING = "data_mining"  # TDMRep tdm-reservation, cawg.data_mining: text and data mining, incl. training
    AI_TRAINING = "ai_training"  # aipref train-ai, cawg.ai_training, TDM·AI train-ai
    GENERATIVE_TRAINING = "generative_training"  # aipref train-genai, cawg.ai_generative_training
    AI_INFERENCE = "ai_inference"  # aipref ai-use, cawg.ai_inference, TDM·AI ai-use: style / inference use


RESERVED_BITS: dict[ReservedUse, int] = {use: 1 << position for position, use in enumerate(ReservedUse)}

# Which reservations block which use. Our models are generative, so any training reservation (including
# text-and-data-mining, which the EU DSM Directive art. 4 reservation covers) blocks training; inference /
# style use reservations block using a work as a style reference or as the source of a derivative.
_BLOCKED_BY: dict[Use, frozenset[ReservedUse]] = {
    Use.AI_TRAINING: frozenset({ReservedUse.ALL, ReservedUse.DATA_MINING, ReservedUse.AI_TRAINING,
                                ReservedUse.GENERATIVE_TRAINING}),
    Use.STYLE_REFERENCE: frozenset({ReservedUse.ALL, ReservedUse.AI_INFERENCE}),
    Use.DERIVATIVE_GENERATION: frozenset({ReservedUse.ALL, ReservedUse.AI_INFERENCE}),
    Use.COMMERCIAL_OUTPUT: frozenset({ReservedUse.ALL}),
    Use.NON_COMMERCIAL_OUTPUT: frozenset({ReservedUse.ALL}),
}


def uses_mask(uses: Iterable[str]) -> int:
    """Bit mask of license uses; raises ValueError naming an unknown use."""
    mask = 0
    for use in uses:
        try:
            mask |= USE_BITS[Use(use)]
        except ValueError:
            raise ValueError(f"unknown use {use!r}; expected one of {', '.join(Use)}") from None
    return mask


@functools.lru_cache(maxsize=1024)
def _uses_of(mask: int) -> tuple[str, ...]:
    return tuple(use.value for use, bit in USE_BITS.items() if mask & bit)


def uses_of(mask: int) -> list[str]:
    """License uses in a bit mask, in vocabulary order."""
    return list(_uses_of(mask))


def reserved_mask(uses: Iterable[str]) -> int:
    """Bit mask of reserved uses; raises ValueError naming an unknown one."""
    mask = 0
    for use in uses:
        try:
            mask |= RESERVED_BITS[ReservedUse(use)]
        except ValueError:
            raise ValueError(f"unknown reserved use {use!r}; expected one of {', '.join(ReservedUse)}") from None
    return mask


def reserved_of(mask: int) -> list[str]:
    """Reserved uses in a bit mask, in vocabulary order."""
    return [use.value for use, bit in RESERVED_BITS.items() if mask & bit]


def blocking_mask(use: Use | str) -> int:
    """Reservation bits that block `use`: an opt-out blocks it when (its mask & this) != 0."""
    return sum(RESERVED_BITS[r] for r in _BLOCKED_BY[Use(use)])


# --- Territories ----------------------------------------------------------------------------------------------

WORLD = "WORLD"

# ISO 3166-1 alpha-2 officially assigned codes (249), plus XK (Kosovo, user-assigned but used by the EU and
# by DDEX). Kept inline so validation needs no package and no network.
ISO_3166_ALPHA2 = frozenset("""
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO
JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR
MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV
TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK
""".split())


def normalize_territory(code: str) -> str:
    """Upper-cased ISO 3166-1 alpha-2 code or WORLD; raises ValueError otherwise."""
    value = code.strip().upper()
    if value == WORLD or value in ISO_3166_ALPHA2:
        return value
    raise ValueError(f"unknown territory {code!r}; expected an ISO 3166-1 alpha-2 code or WORLD")


def territory_field(codes: Iterable[str]) -> str:
    """Storage form of a territory list: "|US|GB|" (sorted, deduplicated), "" for none; SQL tests LIKE '%|US|%'."""
    values = sorted({normalize_territory(c) for c in codes})
    return f"|{'|'.join(values)}|" if values else ""


def territories_of(stored: str) -> list[str]:
    """Territory codes of a stored territory field."""
    return [c for c in stored.split("|") if c]


# --- Reservations (what opt-out intake parsers produce) --------------------------------------------------------


class SubjectKind(enum.StrEnum):
    """What an opt-out is about."""

    WORK = "work"  # a catalog work id
    PARTY = "party"  # every work whose rights holder or creator is this party id
    ISCC = "iscc"  # every work with this ISCC code (Data-Code, Instance-Code or full ISCC-CODE)
    IDENTIFIER = "identifier"  # every work carrying identifier scheme:value (ISWC, ISRC, URL, ...)
    CREATOR_NAME = "creator_name"  # every work credited to a creator with this (normalized) name


class Source(enum.StrEnum):
    """Where an opt-out came from."""

    DIRECT = "direct"  # a rights holder (or staff) through the API or admin
    TDMREP = "tdmrep"  # W3C TDMRep: /.well-known/tdmrep.json, or tdm-reservation / tdm-policy headers
    AIPREF = "aipref"  # IETF aipref Content-Usage header or robots.txt rule
    CAWG = "cawg"  # cawg.training-mining assertion in a C2PA manifest
    C2PA = "c2pa"  # legacy c2pa.training-mining assertion
    LICCIUM = "liccium"  # Liccium TDM·AI declaration (ISCC-keyed JSON)


@dataclass(frozen=True)
class Subject:
    """The subject of a reservation: kind plus value (for IDENTIFIER the value is "scheme:value")."""

    kind: SubjectKind
    value: str


@dataclass(frozen=True)
class Reservation:
    """One machine-readable "not allowed" statement, as parsed; becomes one OptOut row when registered.

    `constraint` is set when the source said "constrained" (CAWG): it counts as notAllowed unless the
    constraint names a license we hold (evaluated against License.document_ref).
    """

    subject: Subject
    uses: frozenset[ReservedUse]
    source: Source
    evidence: Mapping[str, Any] = field(default_factory=dict)  # the input verbatim (JSON-safe)
    policy_url: str = ""
    constraint: str = ""
    effective_from: datetime | None = None


class IntakeError(ValueError):
    """Input to an opt-out intake parser was unknown or malformed; nothing from it may be stored."""

    def __init__(self, code: str, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})


@functools.lru_cache(maxsize=65536)
def normalize_name(name: str) -> str:
    """Matching form of a person or party name: casefolded, accents removed, "Last, First" turned around,
    punctuation dropped, whitespace collapsed. "Palestrina, Giovanni Perluigi da" == "giovanni perluigi da palestrina".
    """
    import unicodedata

    text = name.strip()
    if text.count(",") == 1:
        last, first = (part.strip() for part in text.split(","))
        if first and last:
            text = f"{first} {last}"
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    cleaned = "".join(ch if ch.isalnum() else " " for ch in stripped.casefold())
    return " ".join(cleaned.split())
