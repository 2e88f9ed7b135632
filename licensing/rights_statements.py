"""What the rights statements that apply to one file, taken together, allow.

Pure and Django-free. `classify(statements, composer_death_year=..., as_of_year=...)` reads every statement
(in-band ones from `inband.read`, licence files from `inband.license_file_statements`) and returns a
`RightsFinding`: a status, the licence, holder and year, the `Use`s permitted, conditions, and reasons --
sentences a legal reviewer can check against the quoted statements.

Statuses:
  public_domain  composition and encoding are free (a PD statement, CC0, a PD dedication)
  open_license   a public licence grants the uses with conditions (CC-BY, CC-BY-SA, GPL, MIT ...)
  permission     a stated permission short of a public licence (the Essen licence, the corpus licence)
  reserved       all rights reserved: an explicit reservation, a named holder's notice with no terms, a
                 statement we cannot read, or a free encoding of a composition that is not cleared
  unstated       nothing applicable says anything

Decisions, applied consistently:

1. Precedence. The most specific level that says anything about the terms governs: the file's own
   statements, then licence files from the nearest directory up to the corpus root (a `license_file:`
   source with more path parts is more specific). Within the governing level any reservation wins ("any
   disallow wins"); several grants combine to what all of them allow (uses intersected, conditions
   united). A bare copyright notice beside a grant at the same level names the holder of that grant; it
   does not cancel it -- "(c) 2010 X" plus "CC-BY-SA" is the normal form of a licence notice.
2. Empty and template notices ("", "©", "Copyright ©": nothing left once the copyright words and
   punctuation are removed) are kept verbatim in the input but treated as saying nothing, so the
   directory or corpus licence applies; the finding's reasons record each one ignored. A notice with a
   year but no holder is not a template: it dates a claim.
3. A notice naming a holder with no terms ("Copyright 2000, John Miller", "UT ORPHEUS EDIZIONI 2003",
   "PDF © 2004 Margaret Greentree / used by permission") is `reserved`: copyright is all rights reserved
   unless licensed, and a permission given to the distributor ("used by permission") is not one to us.
   A statement in a rights field that matches no family below is treated the same way until reviewed.
4. Composition versus encoding. An encoding licence covers only the encoding. The composition is
   cleared when (a) a statement says the composition is public domain ("Public Domain", "Original out of
   Copyright", "P.D. (Canada, EU), US from 2023" once that year is reached -- a statement's own
   territorial limit overrides life+70); or (b) every author is accounted for: the latest author's death
   year is more than 70 years ago (the term runs to the end of the 70th calendar year after death,
   Directive 2006/116/EC art. 1(1) and 8, so a composer who died in 1951 is free from 2022), and authors
   whose death year is unknown are covered by a `SourceCollection` rule. If the composition is not
   cleared, a free encoding licence yields `reserved` with the condition "composition_not_cleared"; the
   encoding's licence name is kept so the reviewer sees what the encoding alone would allow.
5. Traditional and anonymous works. A `SourceCollection` is the dated collection (or manuscript
   repertory) a work is known from. Tunes from oral tradition (publication year None) have no author whose
   copyright could subsist. Otherwise the work is cleared 95 years after the collection's publication:
   by then an author of unknown death date is presumed dead for 70 years (17 U.S.C. §302(e)), and the EU
   term of anonymous works (70 years from publication, Directive 2006/116/EC art. 1(3)) has run too.
6. The music21 corpus licence says the encodings are distributed with the encoders' permission, that
   some "may not be used for commercial uses or have other restrictions", embedded in files or
   directories, and that pieces "may or may not be free in your jurisdiction". With nothing more
   specific it is read as permission for non-commercial use only (uses without commercial_output,
   condition "non_commercial"); it does not clear compositions (it disclaims exactly that). The Essen
   licence ("permission for non-commercial distribution and use of these files") reads the same way.
7. Uses: public domain and CC0 permit every use without attribution; CC-BY adds attribution; SA adds the
   condition "share_alike"; NC removes commercial_output ("non_commercial"); ND removes ai_training and
   derivative_generation ("no_derivatives"); the GPL permits every use with attribution (notices kept) and
   "copyleft".
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from licensing.inband import RightsStatement
from licensing.terms import Use, normalize_name

__all__ = [
    "COMPOSER_DEATH_YEARS",
    "RightsFinding",
    "RightsStatement",
    "RightsStatus",
    "SourceCollection",
    "StatementReading",
    "canonical_composer",
    "classify",
    "composer_death_year",
    "is_anonymous",
    "read_statement",
]

ALL_USES = frozenset(Use)
NON_COMMERCIAL_USES = ALL_USES - {Use.COMMERCIAL_OUTPUT}
LIFE_PLUS = 70  # years after the author's death (Directive 2006/116/EC art. 1(1))
UNKNOWN_AUTHOR_YEARS = 95  # years after publication (17 U.S.C. §302(e))
FILE_LEVEL = 1_000_000  # specificity of a statement inside the file itself


class RightsStatus(enum.StrEnum):
    """What the applicable statements, taken together, allow."""

    PUBLIC_DOMAIN = "public_domain"
    OPEN_LICENSE = "open_license"
    PERMISSION = "permission"
    RESERVED = "reserved"
    UNSTATED = "unstated"


# Most restrictive last: combining grants keeps the most restrictive status.
_RESTRICTIVENESS = [RightsStatus.PUBLIC_DOMAIN, RightsStatus.OPEN_LICENSE, RightsStatus.PERMISSION,
                    RightsStatus.RESERVED]


@dataclass(frozen=True)
class SourceCollection:
    """The collection a traditional or anonymous work is known from; `published` None means oral tradition."""

    name: str
    published: int | None


@dataclass(frozen=True)
class Grant:
    """Uses a statement grants, on what conditions, under which licence."""

    status: RightsStatus
    license_name: str | None
    uses: frozenset[Use]
    attribution: bool
    conditions: tuple[str, ...]
    summary: str  # completes "… reads as …" in a reason
    evidence: str = ""  # the sentence of the statement that grants it


@dataclass(frozen=True)
class StatementReading:
    """How one statement reads: its family, what it grants or reserves, and what it says of the composition."""

    statement: RightsStatement
    family: str  # template, reservation, cc0, public_domain, dedication, creative_commons, gpl, ...
    level: int
    grant: Grant | None = None
    reservation: str | None = None  # the reserving phrase, quoted
    composition_public_domain: bool = False
    public_domain_territories: str | None = None
    us_public_domain_from: int | None = None
    holder: str | None = None
    year: int | None = None

    @property
    def says_terms(self) -> bool:
        """Whether it says anything about the encoding's terms (a composition-only claim does not)."""
        return self.family not in ("template", "composition_claim")


@dataclass(frozen=True)
class RightsFinding:
    """What the statements applying to one file allow, with the reasons and the statements relied on."""

    status: RightsStatus
    license_name: str | None
    holder: str | None
    year: int | None
    uses: frozenset[Use]
    attribution_required: bool
    conditions: tuple[str, ...]
    reasons: tuple[str, ...]
    statements: tuple[RightsStatement, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (uses in vocabulary order)."""
        return {
            "status": self.status.value,
            "license_name": self.license_name,
            "holder": self.holder,
            "year": self.year,
            "uses": [use.value for use in Use if use in self.uses],
            "attribution_required": self.attribution_required,
            "conditions": list(self.conditions),
            "reasons": list(self.reasons),
            "statements": [{"source": s.source, "text": s.text} for s in self.statements],
        }


# --- reading one statement ----------------------------------------------------------------------------------

_TEMPLATE_NOISE = re.compile(r"copyright|copr\.?|\(c\)|©|[^\w]|_", re.IGNORECASE)
_SOME_RIGHTS = re.compile(r"some\s+rights\s+reserved", re.IGNORECASE)
_RESERVATION = re.compile(
    r"\ball\s+rights\s+reserved"
    r"|\brights\b[^.;\n]{0,80}?\breserved\b"
    r"|refer\s+to\s+(?:the\s+)?licen[cs]ing\s+agreement"
    r"|must\s+be\s+accompanied\s+by\s+the\s+licen[cs]ing\s+agreement"
    r"|may\s+not\s+be\s+(?:reproduced|copied|redistributed)"
    r"|without\s+(?:the\s+)?(?:prior\s+)?written\s+permission",
    re.IGNORECASE,
)
_CC0 = re.compile(r"\bCC[-\s]?0\b|\bCC[-\s]?zero\b|creativecommons\.org/publicdomain/zero", re.IGNORECASE)
_DEDICATION = re.compile(
    r"\b(?:released|assigned|dedicated|placed|put|donated|given)\s+(?:in)?to\s+(?:the\s+)?public\s+domain"
    r"|\breleased\s+as\s+(?:CC[-\s]?0\s*/\s*)?public\s+domain",
    re.IGNORECASE,
)
_PD_CLAIM = re.compile(
    r"\bpublic\s+domain\b|\bP\.\s?D\.|\bout\s+of\s+copyright\b|\bcopyright\s+(?:has\s+)?expired\b"
    r"|\bno\s+known\s+copyright",
    re.IGNORECASE,
)
_PD_ORIGINAL_ONLY = re.compile(r"\boriginal\b[^.;]{0,20}$", re.IGNORECASE)
_PD_TERRITORIES = re.compile(r"\bP\.?\s?D\.?\s*\(([^)]*)\)|public\s+domain\s+in\s+([A-Z][^.;()]*)", re.IGNORECASE)
_US_FROM = re.compile(r"\b(?:US|U\.S\.|USA|United\s+States)\s+(?:from|after|since|as\s+of|in)\s+(\d{4})")
_CC = re.compile(r"\bCC[-\s]?((?:(?:BY|SA|NC|ND)\b[-\s]?){1,4})(\d\.\d)?", re.IGNORECASE)
_CC_URL = re.compile(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)", re.IGNORECASE)
_CC_WORDS = re.compile(
    r"\bAttribution((?:[-\s](?:NonCommercial|ShareAlike|NoDerivatives|NoDerivs))*)\s+(\d\.\d)", re.IGNORECASE
)
_GNU = re.compile(r"\bGNU\s+(Lesser\s+|Library\s+|Affero\s+)?General\s+Public\s+Licen[cs]e", re.IGNORECASE)
_GPL_ABBREV = re.compile(r"\b(L|A)?GPL[-\s]?v?(\d(?:\.\d)?)?(\+|[-\s]or[-\s]later)?", re.IGNORECASE)
_GPL_VERSION = re.compile(
    r"version\s+(\d(?:\.\d)?)(\s+of\s+the\s+Licen[cs]e)?(,?\s+or\s+\(at\s+your\s+option\)\s+any\s+later\s+version)?",
    re.IGNORECASE,
)
_MIT = re.compile(r"\bMIT\s+Licen[cs]e\b|Permission\s+is\s+hereby\s+granted,\s+free\s+of\s+charge", re.IGNORECASE)
_BSD = re.compile(r"\bBSD[-\s]([234])[-\s]Clause\b|Redistribution\s+and\s+use\s+in\s+source\s+and\s+binary\s+forms",
                  re.IGNORECASE)
_UNCLEAR = re.compile(r"\b(?:unclear|uncertain|unknown)\b", re.IGNORECASE)
_PERMISSION_NC = re.compile(r"permission\s+for\s+non[-\s]?commercial", re.IGNORECASE)
_CORPUS_PERMISSION = re.compile(r"distributed\s+with\s+the\s+permission\s+of\s+the\s+encoders", re.IGNORECASE)
_PERMISSION_GRANTOR = re.compile(r"([A-Z][\w.-]*(?:\s+[A-Z][\w.-]*)+)\s*,\s*who\s+has\s+given\s+permission")

_NOTICE_MARK = re.compile(r"copyright|©|\(c\)|copr\.", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?!\d)")
_LEADING_YEAR_HOLDER = re.compile(r"^\s*(1[0-9]{3}|20[0-9]{2})\s+([A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)+)")
_BY_HOLDER = re.compile(r"\b(?i:typeset|engraved|encoded)\s+by\s+([A-Z][\w.'-]*(?:\s+[A-Z][\w.'-]*)*)")
_LICENSE_THEN_HOLDER = re.compile(
    r"\bCC[-\s]?(?:BY|SA|NC|ND)(?:[-\s](?:BY|SA|NC|ND))*\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)"
)
_NAME_CONNECTORS = frozenset({"of", "for", "in", "the", "and", "de", "da", "van", "von", "la", "le", "del", "di", "&"})
_NOT_HOLDERS = re.compile(r"creative\s+commons|licen[cs]e|public\s+domain|rights|reserved", re.IGNORECASE)
# Holders known by a mangled notice (OCR of printed pages), matched loosely.
_KNOWN_HOLDERS = ((re.compile(r"UT\s*ORPHEUS", re.IGNORECASE), "Ut Orpheus Edizioni"),)


def read_statement(statement: RightsStatement) -> StatementReading:
    """How one statement reads on its own (see the module docstring for the families)."""
    text = _plain(statement.text)
    level = _specificity(statement.source)
    if not _TEMPLATE_NOISE.sub("", text):
        return StatementReading(statement, "template", level)

    holder, year = _holder_and_year(text)
    scrubbed = _SOME_RIGHTS.sub(" ", text)
    reservation = _RESERVATION.search(scrubbed)

    dedication = _DEDICATION.search(text)
    claim_text = _DEDICATION.sub(" ", text)
    claim = _unhedged_claim(claim_text)
    composition_pd = claim is not None
    territories = None
    us_from = None
    if claim:
        found = _PD_TERRITORIES.search(claim_text)
        territories = (found.group(1) or found.group(2)).strip() if found else None
        us = _US_FROM.search(claim_text)
        us_from = int(us.group(1)) if us else None
    # "Original out of Copyright": the claim covers the composition only, not this encoding.
    claim_covers_encoding = claim is not None and not _PD_ORIGINAL_ONLY.search(claim_text[: claim.start()])

    family, grant = _grant_of(text)
    if grant is None and dedication:
        family, grant = "dedication", Grant(RightsStatus.PUBLIC_DOMAIN, None, ALL_USES, False, (),
                                            "a public-domain dedication of the encoding",
                                            _sentence(text, dedication))
    if grant is None and claim is not None and claim_covers_encoding:
        family, grant = "public_domain", Grant(RightsStatus.PUBLIC_DOMAIN, None, ALL_USES, False, (),
                                               "a statement that the work is in the public domain",
                                               _sentence(claim_text, claim))
    if reservation:
        return StatementReading(statement, "reservation", level, grant, reservation.group(0), composition_pd,
                                territories, us_from, holder, year)
    if grant is not None:
        return StatementReading(statement, family, level, grant, None, composition_pd, territories, us_from,
                                holder, year)
    if composition_pd:
        return StatementReading(statement, "composition_claim", level, None, None, True, territories, us_from,
                                holder, year)
    family = "notice" if holder or year or _NOTICE_MARK.search(text) else "unrecognized"
    return StatementReading(statement, family, level, holder=holder, year=year)


_COMMENT_MARKERS = re.compile(r"(?m)^[ \t]*(?:%+|#+|!{2,}|//)[ \t]?")
_INLINE_MARKERS = re.compile(r"(?<=\s)(?:%+|#+)(?=\s)")  # the same markers once lines were joined
_HEDGE = re.compile(r"\beither\b|to\s+the\s+best\s+of\s+our\s+knowledge|may\s+or\s+may\s+not", re.IGNORECASE)


def _plain(text: str) -> str:
    """Statement text for matching: comment markers at line starts removed ("% ", "# ", "!!! ") -- also when
    the lines were already joined -- so a notice wrapped over comment lines reads as one sentence."""
    return _INLINE_MARKERS.sub(" ", _COMMENT_MARKERS.sub("", text))


def _unhedged_claim(text: str) -> re.Match[str] | None:
    """The first public-domain claim not hedged in its own sentence: "To the best of our knowledge, each
    piece ... is either out of copyright ... or is licensed" (the corpus licence) claims nothing."""
    for claim in _PD_CLAIM.finditer(text):
        sentence = text[max(text.rfind(".", 0, claim.start() - 1), text.rfind("\n\n", 0, claim.start())) + 1 :
                        claim.start()]
        if not _HEDGE.search(sentence):
            return claim
    return None


def _specificity(source: str) -> int:
    if source.startswith("license_file:"):
        return len(PurePosixPath(source.removeprefix("license_file:")).parts)
    return FILE_LEVEL


def _grant_of(text: str) -> tuple[str, Grant | None]:
    family, grant, match = _grant_match(text)
    if grant is None or match is None:
        return family, None
    return family, replace(grant, evidence=_sentence(text, match))


def _sentence(text: str, match: re.Match[str]) -> str:
    """The paragraph of `text` containing `match` when short, else its sentence; whitespace collapsed."""
    paragraph_start = text.rfind("\n\n", 0, match.start())
    paragraph_start = 0 if paragraph_start < 0 else paragraph_start + 2
    paragraph_end = text.find("\n\n", match.end())
    paragraph = " ".join(text[paragraph_start : len(text) if paragraph_end < 0 else paragraph_end].split())
    if len(paragraph) <= 300:
        return paragraph
    boundary = max(text.rfind(". ", 0, match.start()), text.rfind("\n\n", 0, match.start()))
    start = 0 if boundary < 0 else boundary + 2
    ends = [i for i in (text.find(". ", match.end()), text.find("\n\n", match.end())) if i >= 0]
    end = min(ends) + 1 if ends else len(text)
    return " ".join(text[start:end].split())


def _grant_match(text: str) -> tuple[str, Grant | None, re.Match[str] | None]:
    if cc0 := _CC0.search(text):
        return "cc0", Grant(RightsStatus.PUBLIC_DOMAIN, "CC0-1.0", ALL_USES, False, (), "a CC0 dedication"), cc0
    parts, version, cc = _creative_commons(text)
    if parts:
        name = "CC-" + "-".join(parts) + (f"-{version}" if version else "")
        uses = set(ALL_USES)
        conditions = []
        if "NC" in parts:
            uses.discard(Use.COMMERCIAL_OUTPUT)
            conditions.append("non_commercial")
        if "ND" in parts:
            uses -= {Use.AI_TRAINING, Use.DERIVATIVE_GENERATION}
            conditions.append("no_derivatives")
        if "SA" in parts:
            conditions.append("share_alike")
        unversioned = "" if version else " (no version stated)"
        return "creative_commons", Grant(RightsStatus.OPEN_LICENSE, name, frozenset(uses), True, tuple(conditions),
                                         f"the Creative Commons licence {name}{unversioned}"), cc
    gpl, gnu = _gpl(text)
    if gpl:
        return "gpl", Grant(RightsStatus.OPEN_LICENSE, gpl, ALL_USES, True, ("copyleft",),
                            f"the copyleft licence {gpl}"), gnu
    if mit := _MIT.search(text):
        return "mit", Grant(RightsStatus.OPEN_LICENSE, "MIT", ALL_USES, True, (), "the MIT licence"), mit
    if bsd := _BSD.search(text):
        name = f"BSD-{bsd.group(1)}-Clause" if bsd.group(1) else "BSD-3-Clause"
        return "bsd", Grant(RightsStatus.OPEN_LICENSE, name, ALL_USES, True, (), f"the {name} licence"), bsd
    if permission := _PERMISSION_NC.search(text):
        return "permission_non_commercial", Grant(
            RightsStatus.PERMISSION, None, NON_COMMERCIAL_USES, False, ("non_commercial",),
            "permission for non-commercial distribution and use only"), permission
    if corpus := _CORPUS_PERMISSION.search(text):
        return "corpus_permission", Grant(
            RightsStatus.PERMISSION, None, NON_COMMERCIAL_USES, False, ("non_commercial",),
            "the corpus licence: encodings distributed with the encoders' permission, some of which \"may not be "
            "used for commercial uses\", restrictions being embedded in files or directories; with nothing more "
            "specific we read it as permission for non-commercial use only"), corpus
    return "", None, None


def _creative_commons(text: str) -> tuple[list[str], str | None, re.Match[str] | None]:
    """Licence elements in SPDX order (BY, NC, ND, SA), version and match of a Creative Commons mention."""
    elements: set[str] = set()
    version = None
    match = _CC.search(text)
    if match:
        elements = {p.upper() for p in re.split(r"[-\s]+", match.group(1)) if p}
        version = match.group(2)
    elif match := _CC_URL.search(text):
        elements = {p.upper() for p in match.group(1).split("-")}
        version = match.group(2)
    elif match := _CC_WORDS.search(text):
        names = {"noncommercial": "NC", "sharealike": "SA", "noderivatives": "ND", "noderivs": "ND"}
        elements = {"BY"} | {names[w.lower()] for w in re.split(r"[-\s]+", match.group(1)) if w}
        version = match.group(2)
    if not elements or "BY" not in elements:
        return [], None, None
    return [p for p in ("BY", "NC", "ND", "SA") if p in elements], version, match


def _gpl(text: str) -> tuple[str | None, re.Match[str] | None]:
    """SPDX identifier of a GNU licence notice ("version 2 ... or (at your option) any later version" is
    GPL-2.0-or-later; an unversioned GPL lets the licensee choose any version: GPL-1.0-or-later)."""
    if gnu := _GNU.search(text):
        prefix = {"lesser": "LGPL", "library": "LGPL", "affero": "AGPL"}.get((gnu.group(1) or "").strip().lower(),
                                                                            "GPL")
        version = _GPL_VERSION.search(text)
        if not version:
            return (f"{prefix}-1.0-or-later" if prefix == "GPL" else f"{prefix}-2.0-or-later"), gnu
        number = version.group(1) if "." in version.group(1) else f"{version.group(1)}.0"
        return f"{prefix}-{number}-{'or-later' if version.group(3) else 'only'}", gnu
    if abbrev := _GPL_ABBREV.search(text):
        prefix = f"{(abbrev.group(1) or '').upper()}GPL"
        number = abbrev.group(2) or "1"
        number = number if "." in number else f"{number}.0"
        later = abbrev.group(3) or not abbrev.group(2)
        return f"{prefix}-{number}-{'or-later' if later else 'only'}", abbrev
    return None, None


def _holder_and_year(text: str) -> tuple[str | None, int | None]:
    """The holder and year a notice names; of several notices the last wins (the encoding's, typically:
    "Original out of Copyright (1915, G. Schirmer). Engraving Copyright 2017 Michael Scott Cuthbert")."""
    for pattern, name in _KNOWN_HOLDERS:
        if pattern.search(text):
            found = _YEAR.search(text)
            return name, int(found.group(1)) if found else None
    notices = [_notice_at(text, m.end()) for m in _NOTICE_MARK.finditer(text)]
    notices = [n for n in notices if n[0] or n[1]]
    holder, year = (notices[-1] if notices else (None, None))
    named = [n for n in notices if n[0]]
    if named and not holder:
        holder = named[-1][0]
    if holder is None:
        for pattern in (_LEADING_YEAR_HOLDER, _BY_HOLDER, _LICENSE_THEN_HOLDER, _PERMISSION_GRANTOR):
            match = pattern.search(text)
            if match:
                candidate = _clean_holder(match.group(match.lastindex or 1))
                if candidate:
                    holder = candidate
                    if year is None and pattern is _LEADING_YEAR_HOLDER:
                        year = int(match.group(1))
                    break
    return holder, year


_TOKEN = re.compile(r"[\w.'!&-]+|[^\w\s]|\n", re.UNICODE)


def _notice_at(text: str, start: int) -> tuple[str | None, int | None]:
    """Year and holder following a copyright mark: "Copyright © 1998 by Oliver Seely", "(1915, G. Schirmer)"."""
    tokens = _TOKEN.findall(text[start : start + 160])
    year = None
    index = 0
    while index < len(tokens) and (tokens[index] in {"©", "(", "c", "C", ")", ",", "by", "By"}
                                   or _YEAR.fullmatch(tokens[index])):
        if _YEAR.fullmatch(tokens[index]) and year is None:
            year = int(tokens[index])
        index += 1
    words: list[str] = []
    for word in tokens[index:]:
        if not words and word in _NAME_CONNECTORS:
            break  # "out of copyright in the United States": no holder follows
        if word == "\n" or not (word[:1].isupper() or word in _NAME_CONNECTORS):
            break
        if "@" in word or word.endswith(":"):
            break
        words.append(word)
    while words and words[-1] in _NAME_CONNECTORS:
        words.pop()
    return _clean_holder(" ".join(words)), year


def _clean_holder(name: str) -> str | None:
    name = name.strip(" .,;:-")
    if not name or _NOT_HOLDERS.search(name) or _YEAR.fullmatch(name):
        return None
    return name


# --- composers ----------------------------------------------------------------------------------------------

# (canonical name, death year, variants as they appear in files). Floruit-only composers are not listed:
# their works are cleared through the collection they are known from (see `SourceCollection`).
_COMPOSERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("Guillaume de Machaut", 1377, ("Machaut",)),
    ("Philippe de Vitry", 1361, ("Vitry",)),
    ("Gherardello da Firenze", 1363, ("Gherardello",)),
    ("Lorenzo da Firenze", 1373, ("Lorenzo Masini",)),
    ("Jacopo da Bologna", 1386, ()),  # last documented after 1386
    ("Francesco Landini", 1397, ("Landini", "Francesco Landino")),
    ("Johannes Ciconia", 1412, ("Ciconia",)),
    ("Josquin des Prez", 1521, ("Josquin", "Josquin Des Prez", "Josquin Desprez", "Josquin de Pré",
                                        "Josquin des Prés", "Josquin Lebloitte dit des Prez")),
    ("Vicente Lusitano", 1561, ("Lusitano",)),  # last documented 1561
    ("Giovanni Pierluigi da Palestrina", 1594, ("Palestrina", "Palestrina, Giovanni Perluigi da",
                                                "Giovanni Perluigi da Palestrina")),
    ("Torquato Tasso", 1595, ()),  # poet (Monteverdi madrigal texts)
    ("Giovanni Battista Guarini", 1612, ("Battista Guarini", "G.B. Guarini", "G. B. Guarini", "Guarini")),
    ("Angelo Grillo", 1629, ("Livio Celiano",)),  # poet, as Livio Celiano
    ("Claudio Monteverdi", 1643, ("Monteverdi",)),
    ("Arcangelo Corelli", 1713, ("Corelli",)),
    ("Turlough O'Carolan", 1738, ("O'Carolan", "Carolan")),
    ("Johann Sebastian Bach", 1750, ("J.S. Bach", "J. S. Bach", "JS Bach", "Bach, Johann Sebastian", "Bach")),
    ("George Frideric Handel", 1759, ("Handel", "Händel", "G.F. Handel", "Georg Friedrich Händel")),
    ("Carl Philipp Emanuel Bach", 1788, ("C.P.E. Bach", "C. P. E. Bach", "CPE Bach")),
    ("Wolfgang Amadeus Mozart", 1791, ("Mozart", "W.A. Mozart", "W. A. Mozart", "W.AMozart", "W A Mozart")),
    ("Joseph Haydn", 1809, ("Haydn", "Franz Joseph Haydn", "J. Haydn")),
    ("Carl Maria von Weber", 1826, ("Weber", "C.M. von Weber")),
    ("Ludwig van Beethoven", 1827, ("Beethoven", "L van Beethoven", "L. van Beethoven", "Beethoven, Ludwig van")),
    ("Franz Schubert", 1828, ("Schubert", "F. Schubert")),
    ("Frédéric Chopin", 1849, ("Chopin", "Frederic Chopin", "Chopin, Frederic", "Fryderyk Chopin")),
    ("Robert Schumann", 1856, ("R. Schumann",)),
    ("Stephen Foster", 1864, ("Stephen C. Foster", "Stephen Collins Foster")),
    ("Clara Schumann", 1896, ("C. Schumann", "Clara Wieck", "Clara Wieck Schumann")),
    ("Giuseppe Verdi", 1901, ("Verdi",)),
    ("Scott Joplin", 1917, ("Joplin",)),
    ("Liliuokalani", 1917, ("H.R.H. Liliuokalani", "H.R.H.Liliuokalani", "Queen Liliuokalani")),
    ("Abbie Farwell Brown", 1927, ()),  # lyricist (Beach)
    ("James Weldon Johnson", 1938, ()),  # lyricist (Lift Every Voice and Sing)
    ("Amy Beach", 1944, ("Mrs. H.H.A. Beach", "Mrs. H. H. A. Beach", "H.H.A. Beach")),
    ("Anton Webern", 1945, ("Webern", "Anton von Webern")),
    ("Arnold Schoenberg", 1951, ("Schoenberg", "Arnold Schönberg", "Schönberg")),
    ("J. Rosamond Johnson", 1954, ("John Rosamond Johnson",)),
    ("Irving Berlin", 1989, ("Berlin",)),
)

COMPOSER_DEATH_YEARS: dict[str, int] = {
    normalize_name(name): year for canonical, year, variants in _COMPOSERS for name in (canonical, *variants)
}
_CANONICAL: dict[str, str] = {
    normalize_name(name): canonical for canonical, _, variants in _COMPOSERS for name in (canonical, *variants)
}
_ANONYMOUS = re.compile(r"^(?:anon\w*|anonyous|trad\w*|unknown|folk\s*song|volkslied)\b", re.IGNORECASE)


def _name_keys(name: str) -> list[str]:
    """Matching keys of a credited name, from the literal one to cleaned variants: parentheticals, trailing
    years ("Josquin des Prez, 1545"), TeX commands, manuscript sigla ("Gherardello F-Pn 568") and
    catalogue numbers ("W. A. Mozart K. 156") removed; each line of a multi-line credit tried too."""
    keys: list[str] = []
    for line in [name, *name.splitlines()]:
        base = re.sub(r"\\[A-Za-z]+", " ", line)
        variants = [base, re.sub(r"\([^)]*\)", " ", base), *re.findall(r"\(([^)]*)\)", base)]
        for variant in list(variants):
            no_catalogue = re.sub(r"\s+(?:K|KV|BWV|Op|Wq|H|Hob)\.?\s*\d.*$", "", variant.strip(), flags=re.IGNORECASE)
            no_siglum = re.sub(r"\s+[A-Z]{1,3}-\s?\S.*$", "", no_catalogue)
            no_year = re.sub(r"[,\s]+\d{3,4}\s*$", "", no_siglum)
            variants.extend([no_catalogue, no_siglum, no_year])
        for variant in variants:
            key = normalize_name(variant)
            if key and key not in keys:
                keys.append(key)
    return keys


def canonical_composer(name: str) -> str | None:
    """The canonical name of a credited composer or lyricist we know, None otherwise."""
    for key in _name_keys(name):
        if key in _CANONICAL:
            return _CANONICAL[key]
    return None


def composer_death_year(name: str) -> int | None:
    """Death year of a credited composer or lyricist in `COMPOSER_DEATH_YEARS`, None if unknown."""
    for key in _name_keys(name):
        if key in COMPOSER_DEATH_YEARS:
            return COMPOSER_DEATH_YEARS[key]
    return None


def is_anonymous(name: str) -> bool:
    """Whether a credit names no author: "Anonymous I-Rvat 1419", "Trad.", "Anonyous" (sic)."""
    return bool(_ANONYMOUS.match(name.strip()))


# --- classification -----------------------------------------------------------------------------------------


def classify(
    statements: Sequence[RightsStatement],
    *,
    composer_death_year: int | None,
    as_of_year: int,
    collection: SourceCollection | None = None,
) -> RightsFinding:
    """What the statements applying to one file, taken together, allow as of `as_of_year`.

    `composer_death_year` is the latest death year among the composition's authors when all of them are
    known; `collection` covers authors whose death year is unknown (traditional and anonymous works).
    """
    readings = [read_statement(s) for s in statements]
    reasons: list[str] = []
    for reading in readings:
        if reading.family == "template":
            reasons.append(
                f"Ignored {reading.statement.source} {_quote(reading.statement.text)}: an empty or template notice "
                "with no holder and no year says nothing, so a less specific statement applies."
            )
    effective = [r for r in readings if r.family != "template"]
    cleared, composition_reasons, claims = _composition(effective, composer_death_year, as_of_year, collection)
    terms = [r for r in effective if r.says_terms]
    used = _in_order(statements, [*(r.statement for r in terms), *(r.statement for r in claims)])

    if not terms:
        reasons.append("No applicable statement says anything about the rights in this encoding, so no use is "
                       "permitted until they are established.")
        return RightsFinding(RightsStatus.UNSTATED, None, None, None, frozenset(), False, (),
                             tuple(reasons + composition_reasons), used)

    top = max(r.level for r in terms)
    governing = [r for r in terms if r.level == top]
    used = _in_order(statements, [*(r.statement for r in governing), *(r.statement for r in claims)])
    overridden = _in_order(statements, [r.statement for r in terms if r.level < top])
    if overridden:
        reasons.append(
            f"{_capitalized(_describe_level(governing[0].statement.source))} take precedence over "
            f"{', '.join(s.source for s in overridden)}: the most specific statement wins "
            "(file > directory > corpus root)."
        )

    reservations = [r for r in governing if r.reservation]
    grants = [r for r in governing if r.grant is not None and not r.reservation]
    notices = [r for r in governing if r.family in ("notice", "unrecognized")]
    holder, year = _holder_of(reservations + grants + notices)

    if reservations:
        for r in reservations:
            agreement = (" and refers to a licensing agreement we do not hold"
                         if "agreement" in r.statement.text.lower() else "")
            reasons.append(f"{r.statement.source} {_quote(r.statement.text)} reserves rights"
                           f"{agreement}; no use is permitted.")
        if grants:
            reasons.append("Within one level the most restrictive statement wins, so the grant in "
                           f"{', '.join(r.statement.source for r in grants)} does not apply.")
        return RightsFinding(RightsStatus.RESERVED, None, holder, year, frozenset(), False, (),
                             tuple(reasons + composition_reasons), used)

    if grants:
        status, license_name, uses, attribution, conditions = _combine([r.grant for r in grants if r.grant])
        for r in grants:
            assert r.grant is not None
            reasons.append(f"{r.statement.source} {_quote(_evidence(r.statement.text, r.grant.evidence))} reads as "
                           f"{r.grant.summary}.")
        if len(grants) > 1:
            reasons.append("Several grants apply at this level; only what all of them allow is permitted.")
        for r in grants:
            doubt = _UNCLEAR.search(_plain(r.statement.text))
            if doubt and r.grant and r.grant.status == RightsStatus.PERMISSION:
                reasons.append(f"{r.statement.source} also says {_quote(_sentence(_plain(r.statement.text), doubt))}; "
                               "the permission is taken as given and no further.")
        if not cleared:
            reasons.append("That licence covers only the encoding; the composition is not cleared, so its rights "
                           "remain reserved and no use is permitted.")
            return RightsFinding(RightsStatus.RESERVED, license_name, holder, year, frozenset(), False,
                                 (*conditions, "composition_not_cleared"), tuple(reasons + composition_reasons),
                                 used)
        if status == RightsStatus.PUBLIC_DOMAIN:
            holder = None
        return RightsFinding(status, license_name, holder, year, uses, attribution, conditions,
                             tuple(reasons + composition_reasons), used)

    for r in notices:
        if r.family == "notice":
            named = f"names {r.holder} as copyright holder" if r.holder else "is a copyright notice"
            dated = f" ({r.year})" if r.year else ""
            reasons.append(f"{r.statement.source} {_quote(r.statement.text)} {named}{dated} and states no terms: "
                           "all rights remain reserved to the holder.")
        else:
            reasons.append(f"{r.statement.source} {_quote(r.statement.text)} matches no known licence or "
                           "public-domain statement; it is treated as reserving all rights until reviewed.")
    return RightsFinding(RightsStatus.RESERVED, None, holder, year, frozenset(), False, (),
                         tuple(reasons + composition_reasons), used)


def _composition(
    readings: list[StatementReading], death: int | None, as_of: int, collection: SourceCollection | None
) -> tuple[bool, list[str], list[StatementReading]]:
    """Whether the composition is cleared, why, and the statements that say so."""
    claims = [r for r in readings if r.composition_public_domain]
    for r in claims:
        if r.us_public_domain_from and as_of < r.us_public_domain_from:
            where = f"in {r.public_domain_territories}" if r.public_domain_territories else "in some territories"
            return False, [
                f"{r.statement.source} says the composition is public domain {where} but in the US only from "
                f"{r.us_public_domain_from}; as of {as_of} it is not public domain everywhere, so it is treated "
                "as protected."
            ], [r]
    if claims:
        r = claims[0]
        message = f"{r.statement.source} says the composition is in the public domain."
        if r.us_public_domain_from:
            message = (f"{r.statement.source} says the composition is public domain"
                       f"{' in ' + r.public_domain_territories if r.public_domain_territories else ''}, and in the "
                       f"US from {r.us_public_domain_from}, which has been reached.")
        if death is not None and as_of <= death + LIFE_PLUS:
            message += (f" Life+{LIFE_PLUS} alone would not clear it before {death + LIFE_PLUS + 1} (the last "
                        f"author died in {death}); the statement is relied on.")
        return True, [message], claims

    reasons: list[str] = []
    cleared = death is not None or collection is not None
    if death is not None:
        if as_of > death + LIFE_PLUS:
            reasons.append(f"The composition's last author died in {death}; copyright runs to the end of the "
                           f"{LIFE_PLUS}th year after death, so it has been public domain since "
                           f"{death + LIFE_PLUS + 1}.")
        else:
            cleared = False
            reasons.append(f"The composition's last author died in {death}; it is protected until the end of "
                           f"{death + LIFE_PLUS} and no statement licenses it.")
    if collection is not None:
        if collection.published is None:
            reasons.append(f"{collection.name} holds tunes from oral tradition with no identified author; no "
                           "author's copyright can subsist in such a tune.")
        elif as_of >= collection.published + UNKNOWN_AUTHOR_YEARS:
            reasons.append(
                f"Authors without a known death year are covered by {collection.name} (published "
                f"{collection.published}): {UNKNOWN_AUTHOR_YEARS} years after publication an author is presumed "
                f"dead for {LIFE_PLUS} years (17 U.S.C. §302(e)) and the EU term of anonymous works has run "
                f"(Directive 2006/116/EC art. 1(3)), so the composition has been public domain since "
                f"{collection.published + UNKNOWN_AUTHOR_YEARS}."
            )
        else:
            cleared = False
            reasons.append(
                f"Authors without a known death year are covered only by {collection.name} (published "
                f"{collection.published}), which does not clear them before "
                f"{collection.published + UNKNOWN_AUTHOR_YEARS}."
            )
    if death is None and collection is None:
        reasons.append("No author of the composition has a known death year and no statement says it is public "
                       "domain, so the composition is not cleared.")
    return cleared, reasons, []


def _combine(grants: list[Grant]) -> tuple[RightsStatus, str | None, frozenset[Use], bool, tuple[str, ...]]:
    status = max((g.status for g in grants), key=_RESTRICTIVENESS.index)
    uses = frozenset.intersection(*(g.uses for g in grants))
    attribution = any(g.attribution for g in grants)
    conditions = tuple(dict.fromkeys(c for g in grants for c in g.conditions))
    names = list(dict.fromkeys(g.license_name for g in grants if g.license_name))
    return status, " AND ".join(names) if names else None, uses, attribution, conditions


def _holder_of(readings: list[StatementReading]) -> tuple[str | None, int | None]:
    for r in readings:
        if r.holder:
            return r.holder, r.year
    for r in readings:
        if r.year:
            return None, r.year
    return None, None


def _in_order(statements: Sequence[RightsStatement], chosen: list[RightsStatement]) -> tuple[RightsStatement, ...]:
    wanted = set(map(id, chosen))
    return tuple(s for s in statements if id(s) in wanted)


def _describe_level(source: str) -> str:
    if source.startswith("license_file:"):
        return f"the licence file {source.removeprefix('license_file:')} and its level"
    return "the file's own statements"


def _evidence(text: str, sentence: str) -> str:
    """The whole statement when short, else the sentence that carries its meaning."""
    return text if len(text) <= 200 or not sentence else sentence


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def _quote(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return f"“{flat if len(flat) <= limit else flat[: limit - 1] + '…'}”"
