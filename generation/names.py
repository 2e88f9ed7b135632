"""Screening scene descriptions for names of people in the music catalog (composers, creators, parties).

Pure and Django-free: callers load the catalog's names once into a `NameIndex` and screen many free-text
descriptions against it ("A tense chase at night, in the style of Johann Sebastian Bach, reveal at 0:42").
Three ways a name is found, best first:

- exact: the whole normalized name appears as a run of whole tokens, in any case ("johann sebastian bach";
  "bachelor" never matches "Bach"). A one-word name ("Palestrina") must also be capitalized as written;
- surname: the last token of a multi-token name (particles and "Jr" skipped, at least 4 letters) appears
  as a token the director capitalized ("Bach", "Dvořák's New World feel"), unless it is a common word that
  is also a surname (`_NOT_SURNAMES`: "the king arrives" and "The King Arrives" never hit "Carole King");
- fuzzy: a run of 1..n+1 tokens whose first and last words are capitalized scores at least
  `fuzzy_threshold` with rapidfuzz `fuzz.ratio` against a name of n >= 2 tokens ("Johan Sebastien Bach",
  "Hildegard of Bingen", "Klara Schuman", "ClaraSchumann"). Not `WRatio`: its partial and token-set
  scorers rate "Bach" alone 90 against "Johann Sebastian Bach", which would turn every surname into a fuzzy
  hit and bypass the surname rules above.

Each name is reported once, by its best hit. A fuzzy hit that contains a surname hit of the same name is
the same mention seen whole ("Johan Sebastien Bach" rather than just "Bach"), so it outranks that surname
hit; otherwise exact > surname > fuzzy. Catalog placeholders ("Anonymous", "Traditional") never match.

Normalization is `licensing.terms.normalize_name` (casefold, NFKD accent folding, punctuation to spaces,
"Last, First" turned around) plus a dropped possessive 's, so the screen agrees with `Party.name_normalized`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process

from licensing.terms import normalize_name

KINDS = frozenset({"party", "creator"})
EXACT = "exact"
SURNAME = "surname"
FUZZY = "fuzzy"
DEFAULT_FUZZY_THRESHOLD = 88.0

# Catalog placeholders for "no identifiable person": they are not names and must never match anything.
_PLACEHOLDERS = frozenset({
    "anonymous", "anon", "traditional", "trad", "unknown", "unknown artist", "unknown composer", "various",
    "various artists", "public domain", "n a", "none",
})

# Name particles: kept inside full names ("hildegard von bingen" must match as a whole) but never a surname
# on their own, and never a fuzzy blocking key, since they occur in thousands of names and in plain English.
_PARTICLES = frozenset({
    "von", "vom", "van", "der", "den", "de", "del", "della", "di", "da", "du", "des", "dos", "das", "la", "le",
    "zu", "ter", "ten", "of", "the", "y", "e", "bin", "ibn", "al", "el",
})

# Generational suffixes are skipped when picking the surname ("Martin Luther King Jr" -> "king").
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv"})

# Surnames that are also everyday or music words. Capitalization alone cannot tell them apart from the word,
# because directors write cue titles in title case ("Love Theme", "The King Arrives", "Main Title March") and
# start sentences with them; a surname hit on these would flag most descriptions. Kept short on purpose: a
# word belongs here only if it is common in scene text, so "Moore" (no English word) still matches. The full
# name ("Carole King") always matches exactly. The second group are company words, so a publisher party such
# as "Sony Music" never "surname"-matches a capitalized "Music".
_NOT_SURNAMES = frozenset({
    "love", "king", "young", "bird", "white", "black", "brown", "green", "rose", "hope", "joy", "grace", "bell",
    "horn", "sharp", "major", "march", "chase", "storm", "knight", "strong", "little",
    "music", "records", "publishing", "publishers", "group", "band", "orchestra", "ensemble", "choir",
    "quartet", "company", "media", "entertainment", "studios", "verlag",
})

_SURNAME_MIN_LETTERS = 4  # shorter last names ("Li", "Rue", "Day") are too often ordinary tokens
_BLOCK_MIN_LETTERS = 3  # shorter tokens are initials or particles: they would block to half the catalog
_DELETES_MIN_LETTERS = 4  # one-deletion variants of 3-letter tokens are 2 letters and collide everywhere
_HEAD_LETTERS = 4  # a name glued into one word ("ClaraSchumann") is looked up by its first four letters
_GLUED_MIN_LETTERS = 6  # shorter description words cannot hold a two-word name

# Typographic and modifier apostrophes are read as "'" (one character for one, so offsets do not move);
# U+02BC would otherwise count as a letter and glue "Bach" to its possessive.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_POSSESSIVE = re.compile(r"(?<=[\w\u0300-\u036f])'[sS](?!\w)")
_ASCII_NON_ALNUM = str.maketrans({chr(code): " " for code in range(128) if not chr(code).isalnum()})

_RANK_EXACT = 0
_RANK_FUZZY_WHOLE = 1  # a fuzzy hit that contains a surname hit: the same mention, seen whole
_RANK_SURNAME = 2
_RANK_FUZZY = 3


class NameScreenError(ValueError):
    """A rejected index build: stable `code`, a sentence users can act on, and the offending values."""

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})


@dataclass(frozen=True)
class Name:
    """A catalog name to screen for."""

    name: str  # as catalogued, e.g. "Johann Sebastian Bach"
    party_id: int | None  # licensing Party id when the name is a party, else None
    kind: str  # "party" or "creator"


@dataclass(frozen=True)
class NameMatch:
    """A catalog name found in a text."""

    name: Name
    text: str  # the span of the description that matched, verbatim
    start: int  # character offsets of that span in the description
    end: int
    method: str  # "exact" (full name), "surname" (last name alone), or "fuzzy"
    score: float  # 100.0 for exact/surname, rapidfuzz score for fuzzy


@dataclass(frozen=True, slots=True)
class _Token:
    """One normalized word of a description and where it sits in the original text."""

    norm: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Hit:
    """One way one entry matched: token span [first, last) of the description."""

    method: str
    first: int
    last: int
    score: float


def _blank_possessives(text: str) -> str:
    """The text with apostrophes unified and each possessive 's blanked out, same length as the input."""
    return _POSSESSIVE.sub(lambda match: " " * len(match.group()), text.translate(_APOSTROPHES))


@functools.lru_cache(maxsize=8192)
def _fold(char: str) -> str:
    """One character as `normalize_name` folds it: NFKD, combining marks dropped, casefolded."""
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _tokenize(text: str) -> list[_Token]:
    """Normalized tokens of a description with their offsets; joined, they equal `normalize_name` of it."""
    # normalize_name cannot be used on descriptions directly: it loses the offsets we must report.
    text = _blank_possessives(text)
    tokens: list[_Token] = []
    chars: list[str] = []
    start = end = 0
    for index, char in enumerate(text):
        folded = _fold(char)
        if not folded:  # a combining mark (text in NFD form): part of the letter before it
            if chars:
                end = index + 1
            continue
        for ch in folded:
            if ch.isalnum():
                if not chars:
                    start = index
                chars.append(ch)
                end = index + 1
            elif chars:
                tokens.append(_Token("".join(chars), start, end))
                chars = []
    if chars:
        tokens.append(_Token("".join(chars), start, end))
    return tokens


def _name_tokens(name: str) -> tuple[str, ...]:
    """A catalog name in matching form, as the tokens `_tokenize` would give for the same words."""
    if name.isascii() and "," not in name and "'" not in name:
        # Same result as normalize_name for plain ASCII (NFKD and accent folding are no-ops, casefold is
        # lower, no "Last, First" to turn, no possessive), several times faster: it matters for 100k names.
        lowered = name.lower()
        if not lowered.replace(" ", "").isalnum():
            lowered = lowered.translate(_ASCII_NON_ALNUM)
        return tuple(lowered.split())
    return tuple(normalize_name(_blank_possessives(name)).split())


def _surname(tokens: tuple[str, ...]) -> str | None:
    """The token a surname hit looks for, or None when the name has no usable one."""
    if len(tokens) < 2:
        return None  # a one-word name ("Palestrina", a band) has no surname separate from itself
    words = list(tokens)
    while len(words) > 1 and words[-1] in _SUFFIXES:
        words.pop()
    last = words[-1]
    if last in _PARTICLES or last in _NOT_SURNAMES or len(last) < _SURNAME_MIN_LETTERS or not last.isalpha():
        return None
    return last


def _keys(token: str) -> set[str]:
    """Lookup keys of a token: itself and, when long enough, itself with one character removed each way.

    Tokens one insertion, deletion, substitution or adjacent swap apart share a key (a symmetric-deletion
    index), so typos are found by dictionary lookups instead of comparing against every catalog token.
    """
    if len(token) < _DELETES_MIN_LETTERS:
        return {token}
    return {token, *(token[:i] + token[i + 1:] for i in range(len(token)))}


def _capitalized(description: str, token: _Token) -> bool:
    """Whether the director spelled this token with a capital first letter."""
    first = description[token.start]
    return first.isupper() or first.istitle()


class NameIndex:
    """Names prepared for screening (build once, reuse for many descriptions)."""

    def __init__(self, names: Iterable[Name], *, fuzzy_threshold: float = DEFAULT_FUZZY_THRESHOLD) -> None:
        if not 0.0 < fuzzy_threshold <= 100.0:
            raise NameScreenError("names_threshold_out_of_range", "The fuzzy threshold must be in (0, 100].",
                                  {"fuzzy_threshold": fuzzy_threshold})
        self._threshold = float(fuzzy_threshold)
        # Entries are columns indexed by entry id, not one object per name: on a 100k-name catalog the
        # garbage-collector passes over those objects took a third of the build time.
        self._names: list[Name] = []
        self._texts: list[str] = []  # tokens joined by single spaces: what fuzzy matching compares against
        # defaultdicts, not setdefault(key, []): that builds a throwaway list per name on large catalogs.
        self._by_text: defaultdict[str, list[int]] = defaultdict(list)  # exact: normalized name -> entries
        self._exact_sizes: set[int] = set()  # name sizes in tokens, so exact lookups try only those
        self._by_surname: defaultdict[str, list[int]] = defaultdict(list)  # surname token -> entries
        # (blocking token, name size in tokens >= 2) -> entries: screening groups candidates by size.
        self._by_token: defaultdict[tuple[str, int], list[int]] = defaultdict(list)
        self._sizes: set[int] = set()  # the name sizes present, so lookups try only those
        self._blocking: set[str] = set()  # blocking tokens already given lookup keys
        self._by_key: defaultdict[str, list[str]] = defaultdict(list)  # token or one-deletion variant -> tokens
        self._by_head: defaultdict[str, list[int]] = defaultdict(list)  # first token's first letters -> entries
        for name in dict.fromkeys(names):  # equal Names are one name; order kept for determinism
            if name.kind not in KINDS:
                raise NameScreenError("names_unknown_kind", "Every name must be of kind 'party' or 'creator'.",
                                      {"kinds": [name.kind], "name": name.name})
            self._add(name)

    def _add(self, name: Name) -> None:
        """Index one name for all three match methods."""
        tokens = _name_tokens(name.name)
        text = " ".join(tokens)
        if not tokens or text in _PLACEHOLDERS:
            return
        if len(tokens) == 1 and (text in _NOT_SURNAMES or text in _PARTICLES):
            return  # a one-word name that is an everyday word ("Love", a band) would match most cue titles
        entry_id = len(self._names)
        self._names.append(name)
        self._texts.append(text)
        self._by_text[text].append(entry_id)
        self._exact_sizes.add(len(tokens))
        surname = _surname(tokens)
        if surname is not None:
            self._by_surname[surname].append(entry_id)
        if len(tokens) < 2:
            return
        if len(tokens[0]) >= _HEAD_LETTERS:
            self._by_head[tokens[0][:_HEAD_LETTERS]].append(entry_id)
        for token in set(tokens):
            if len(token) < _BLOCK_MIN_LETTERS or token in _PARTICLES:
                continue
            if token not in self._blocking:
                self._blocking.add(token)
                for key in _keys(token):
                    self._by_key[key].append(token)
            self._by_token[token, len(tokens)].append(entry_id)
        self._sizes.add(len(tokens))

    def __len__(self) -> int:
        """Number of distinct names that can match (placeholders such as "Anonymous" are not counted)."""
        return len(self._names)

    def screen(self, description: str) -> list[NameMatch]:
        """Catalog names mentioned in a description: one best match per name, sorted by position."""
        tokens = _tokenize(description)
        norms = [token.norm for token in tokens]
        capitals = [_capitalized(description, token) for token in tokens]
        hits: dict[int, list[_Hit]] = {}
        for position in range(len(tokens)):
            # One lookup per name size, however many catalog names share this first word.
            for size in self._exact_sizes:
                if position + size > len(tokens) or (size == 1 and not capitals[position]):
                    continue  # a one-word name is only told apart from the word by its capital
                for entry_id in self._by_text.get(" ".join(norms[position:position + size]), ()):
                    hits.setdefault(entry_id, []).append(_Hit(EXACT, position, position + size, 100.0))
            if capitals[position]:
                for entry_id in self._by_surname.get(norms[position], ()):
                    hits.setdefault(entry_id, []).append(_Hit(SURNAME, position, position + 1, 100.0))
        for (first, last), entry_ids in self._fuzzy_windows(norms, capitals).items():
            window = " ".join(norms[first:last])
            ordered = list(entry_ids)  # order does not matter: each (entry, window) is scored once
            choices = [self._texts[entry_id] for entry_id in ordered]
            for _, score, index in process.extract(window, choices, scorer=fuzz.ratio,
                                                   score_cutoff=self._threshold, limit=None):
                hits.setdefault(ordered[index], []).append(_Hit(FUZZY, first, last, float(score)))
        matches = [_best(self._names[entry_id], entry_hits, tokens, description)
                   for entry_id, entry_hits in hits.items()]
        matches.sort(key=lambda m: (m.start, m.end, m.name.name, m.name.kind,
                                    -1 if m.name.party_id is None else m.name.party_id))
        return matches

    def _fuzzy_windows(self, norms: list[str], capitals: list[bool]) -> dict[tuple[int, int], set[int]]:
        """Token windows [first, last) worth comparing, each with the entries it may be close to."""
        # Blocking: an entry is a candidate only around a description token within one edit of one of its
        # tokens (same one-deletion variant), or a long token that starts like its first token (a glued
        # name). A whole-name ratio of 88 leaves room for about two edits in a 15-letter name, so some token
        # almost always survives within one edit; comparing every window with every name instead would be
        # millions of ratio calls per description on a large catalog.
        # Only windows whose first and last words are capitalized as written are kept: a near miss that does
        # not look like a name is ordinary words ("all green" vs "Al Green", "William arrives" vs "William
        # Harris"); particles inside ("Hildegard of Bingen") may be lowercase.
        windows: dict[tuple[int, int], set[int]] = {}
        count = len(norms)
        for position, norm in enumerate(norms):
            if len(norm) < _BLOCK_MIN_LETTERS or norm in _PARTICLES:
                continue
            similar = {token for key in _keys(norm) for token in self._by_key.get(key, ())}
            by_size: dict[int, set[int]] = {}
            for token in similar:
                for size in self._sizes:
                    if postings := self._by_token.get((token, size)):
                        by_size.setdefault(size, set()).update(postings)
            if (capitals[position] and len(norm) >= _GLUED_MIN_LETTERS
                    and (glued := self._by_head.get(norm[:_HEAD_LETTERS]))):
                # Only the word itself can be the whole glued name; its neighbours are covered above when
                # a second word of the name is written apart ("JohannSebastian Bach" blocks on "bach").
                windows.setdefault((position, position + 1), set()).update(glued)
            for size, entry_ids in by_size.items():
                # Windows of 1..size+1 tokens that contain this token: names glued together or split apart,
                # or one extra word in between.
                for width in range(1, size + 2):
                    for first in range(max(0, position - width + 1), min(position, count - width) + 1):
                        if capitals[first] and capitals[first + width - 1]:
                            windows.setdefault((first, first + width), set()).update(entry_ids)
        return windows


def _best(name: Name, hits: list[_Hit], tokens: list[_Token], description: str) -> NameMatch:
    """The strongest of a name's hits as a match with offsets into the original description."""
    surnames = [hit.first for hit in hits if hit.method == SURNAME]

    def rank(hit: _Hit) -> tuple[int, float, int, int]:
        if hit.method == EXACT:
            order = _RANK_EXACT
        elif hit.method == SURNAME:
            order = _RANK_SURNAME
        elif any(hit.first <= position < hit.last for position in surnames):
            # "Johan Sebastien Bach" also surname-hits "Bach"; the whole mention is the better evidence.
            order = _RANK_FUZZY_WHOLE
        else:
            order = _RANK_FUZZY
        return (order, -hit.score, hit.first, hit.last)

    best = min(hits, key=rank)
    start, end = tokens[best.first].start, tokens[best.last - 1].end
    return NameMatch(name, description[start:end], start, end, best.method, best.score)
