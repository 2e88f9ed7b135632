"""Liccium TDM·AI declaration intake: ISCC-keyed usage preferences (JSON) to ``Reservation`` values.

Pure and Django-free (``iscc-core`` validates the code); malformed declarations raise
:class:`licensing.terms.IntakeError` and nothing is stored.

What the format says (read 2026 from docs.tdmai.org "JSON Schema Definition" and dev.liccium.com "TDMAI
Metadata"; TDM·AI aligns itself with draft-ietf-aipref-vocab-02):

* Required: ``version`` (the string "1.0"), ``iscc`` (ISO 24138 code), ``intent`` ("activate", "update",
  "supersede"; Liccium's developer portal and an earlier schema revision spell it "supercede").
* Optional preferences ``all`` (Automated Processing), ``train-ai``, ``train-genai``, ``ai-use``, ``search``.
  **"true" means the use is explicitly allowed and "false" means it is explicitly disallowed (the opt-out)**;
  both sources say so in these words. So a value of "false" is what becomes a reservation here.
* Inheritance (dev.liccium.com): ``train-ai`` inherits from ``all`` and ``train-genai`` from ``train-ai``;
  ``ai-use`` and ``search`` are independent. (In aipref vocab-02 ``ai-use`` sits under ``all``; TDM·AI differs.)
* Optional ``reference`` (CID of the declaration this one updates or supersedes), ``summary`` and ``policy``
  (the schema describes ``policy`` as a human-readable reference to the compliance regime, e.g. "CDSM").
  The schema sets ``additionalProperties: false``.

Decisions (ours):

* Values: the strings "true"/"false" of the current schema; JSON booleans (the developer portal calls them
  "boolean values"); and "y"/"n" (the 2025-07 revision of the schema). All mean the same: allowed /
  disallowed. Anything else raises ``liccium_bad_value``. Unknown top-level fields raise.
* The ISCC must be in canonical form (``ISCC:`` + base32, as iscc_core.iscc_validate checks); when a
  non-canonical spelling can be normalized, the error names the canonical form to resubmit.
* ``policy`` becomes ``policy_url`` only when it is an absolute http(s) URL; otherwise it stays in evidence.
* Mapping to our uses is shared with aipref (``reserved_uses_for``): ``all`` disallowed with no training or
  ``ai-use`` explicitly allowed is ``ALL``; otherwise disallowed training is ``AI_TRAINING`` (or
  ``GENERATIVE_TRAINING`` when only that is disallowed) and disallowed ``ai-use`` is ``AI_INFERENCE``.
  ``search`` reserves nothing we do. "update"/"supersede" declarations are parsed the same way; linking them
  to the declaration they replace (``reference``) is the registry's job, not the parser's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from licensing.aipref import Preference, effective_preferences, reserved_uses_for
from licensing.terms import IntakeError, Reservation, ReservedUse, Source, Subject, SubjectKind

__all__ = [
    "CATEGORIES",
    "INTENTS",
    "TDMAI_HIERARCHY",
    "LicciumDeclaration",
    "canonical_iscc",
    "parse_declaration",
    "reservations",
]

CATEGORIES: Final = ("all", "train-ai", "train-genai", "ai-use", "search")
TDMAI_HIERARCHY: Final[Mapping[str, str | None]] = {
    "all": None,
    "train-ai": "all",
    "train-genai": "train-ai",
    "ai-use": None,
    "search": None,
}
INTENTS: Final = ("activate", "update", "supersede")
_INTENT_SPELLINGS: Final = {"activate": "activate", "update": "update", "supersede": "supersede",
                            "supercede": "supersede"}
_REQUIRED: Final = ("version", "iscc", "intent")
_TEXT_FIELDS: Final = ("reference", "summary", "policy")
_KNOWN: Final = frozenset(_REQUIRED) | frozenset(CATEGORIES) | frozenset(_TEXT_FIELDS)
_ALLOWED_VALUES: Final[Mapping[object, bool]] = {"true": True, "false": False, "y": True, "n": False}


@dataclass(frozen=True)
class LicciumDeclaration:
    """A validated TDM·AI declaration: canonical ISCC, intent, explicit preferences and the input verbatim."""

    iscc: str
    intent: str
    explicit: Mapping[str, bool]
    reference: str
    summary: str
    policy: str
    raw: Mapping[str, Any]

    def effective(self) -> dict[str, Preference]:
        """Every category's preference with TDM·AI inheritance (all -> train-ai -> train-genai)."""
        return effective_preferences(self.explicit, TDMAI_HIERARCHY)

    def reserved_uses(self) -> frozenset[ReservedUse]:
        """The uses this declaration reserves (its "false" preferences, mapped as in the module docstring)."""
        return reserved_uses_for(self.effective())

    @property
    def policy_url(self) -> str:
        """`policy` if it is an absolute http(s) URL, else "" (the schema allows free text there)."""
        parts = urlsplit(self.policy)
        return self.policy if parts.scheme in ("http", "https") and parts.netloc else ""


def canonical_iscc(code: str) -> str:
    """The canonical "ISCC:..." form of a valid ISCC; raises ValueError with iscc-core's reason otherwise."""
    import iscc_core

    try:
        iscc_core.iscc_validate(code, strict=True)
    except Exception as exc:  # iscc-core can also fail deeper in header decoding with other exception types
        raise ValueError(str(exc) or type(exc).__name__) from None
    return code


def _suggest(code: str) -> str | None:
    """The canonical spelling of a non-canonical but valid ISCC (lowercase, no prefix, dashes), if there is one."""
    import iscc_core

    try:
        normalized = str(iscc_core.iscc_normalize(code.strip()))
        return canonical_iscc(normalized)
    except Exception:  # iscc_normalize fails in several ways; any failure means there is nothing to suggest
        return None


def _load(data: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(data, Mapping):
        return data
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntakeError(
            "liccium_not_json",
            f"The declaration is not valid UTF-8 JSON ({exc}).",
            details={"line": exc.lineno, "column": exc.colno} if isinstance(exc, json.JSONDecodeError) else {},
        ) from None
    if not isinstance(parsed, dict):
        raise IntakeError(
            "liccium_not_object",
            "A TDM·AI declaration is one JSON object with version, iscc and intent.",
            details={"got": type(parsed).__name__},
        )
    return parsed


def parse_declaration(data: bytes | str | Mapping[str, Any]) -> LicciumDeclaration:
    """Validate a TDM·AI declaration (JSON text or an already-decoded object); raises IntakeError."""
    declaration = _load(data)
    missing = [name for name in _REQUIRED if name not in declaration]
    if missing:
        raise IntakeError(
            "liccium_missing_field",
            f"The declaration lacks {', '.join(missing)}; version, iscc and intent are required.",
            details={"fields": missing},
        )
    unknown = sorted(set(declaration) - _KNOWN)
    if unknown:
        raise IntakeError(
            "liccium_unknown_field",
            f"The declaration has fields TDM·AI does not define: {', '.join(unknown)} (check spelling; categories "
            f"are {', '.join(CATEGORIES)}).",
            details={"fields": unknown},
        )
    if declaration["version"] != "1.0":
        raise IntakeError(
            "liccium_bad_version",
            f"version must be the string \"1.0\", not {json.dumps(declaration['version'])}.",
            details={"field": "version", "value": declaration["version"]},
        )
    raw_iscc = declaration["iscc"]
    if not isinstance(raw_iscc, str):
        raise IntakeError(
            "liccium_bad_iscc", "iscc must be a string such as \"ISCC:KEC...\".",
            details={"field": "iscc", "value": raw_iscc},
        )
    try:
        iscc = canonical_iscc(raw_iscc)
    except ValueError as exc:
        suggestion = _suggest(raw_iscc)
        hint = f" Resubmit it as {suggestion}." if suggestion else " Compute it with an ISCC tool (ISO 24138)."
        raise IntakeError(
            "liccium_bad_iscc",
            f"{raw_iscc!r} is not a valid canonical ISCC code ({exc}).{hint}",
            details={"field": "iscc", "value": raw_iscc, "reason": str(exc), "canonical": suggestion},
        ) from None
    intent = _INTENT_SPELLINGS.get(declaration["intent"]) if isinstance(declaration["intent"], str) else None
    if intent is None:
        raise IntakeError(
            "liccium_bad_intent",
            f"intent must be one of {', '.join(INTENTS)}, not {json.dumps(declaration['intent'])}.",
            details={"field": "intent", "value": declaration["intent"]},
        )
    explicit: dict[str, bool] = {}
    for category in CATEGORIES:
        if category not in declaration:
            continue
        value = declaration[category]
        if isinstance(value, bool):
            explicit[category] = value
        elif isinstance(value, str) and value in _ALLOWED_VALUES:
            explicit[category] = _ALLOWED_VALUES[value]
        else:
            raise IntakeError(
                "liccium_bad_value",
                f"{category} must be \"true\" (allowed) or \"false\" (disallowed, the opt-out), not "
                f"{json.dumps(value)}.",
                details={"field": category, "value": value},
            )
    texts: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        value = declaration.get(name, "")
        if not isinstance(value, str):
            raise IntakeError(
                "liccium_bad_field", f"{name} must be a string.", details={"field": name, "value": value}
            )
        texts[name] = value
    return LicciumDeclaration(
        iscc=iscc,
        intent=intent,
        explicit=explicit,
        reference=texts["reference"],
        summary=texts["summary"],
        policy=texts["policy"],
        raw=dict(declaration),
    )


def reservations(data: bytes | str | Mapping[str, Any]) -> list[Reservation]:
    """One Reservation for the declaration's ISCC with every use it reserves, or [] if it reserves none."""
    declaration = parse_declaration(data)
    uses = declaration.reserved_uses()
    if not uses:
        return []
    return [Reservation(
        subject=Subject(SubjectKind.ISCC, declaration.iscc),
        uses=uses,
        source=Source.LICCIUM,
        evidence={"declaration": dict(declaration.raw), "intent": declaration.intent},
        policy_url=declaration.policy_url,
    )]
