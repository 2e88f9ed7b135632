"""IETF aipref opt-out intake: the ``Content-Usage`` header value and ``Content-Usage`` rules in robots.txt.

Pure and Django-free: functions take the header value or the robots.txt text and return ``Reservation``
values; nothing is fetched or stored. Malformed input raises :class:`licensing.terms.IntakeError`.

Sources (all work in progress; read 2025-2026):

* draft-ietf-aipref-vocab (latest: categories ``train-ai``, ``ai-use``, ``search``; vocab-00..02 also had
  ``all`` "Automated Processing" and ``train-genai`` "Generative AI Training", in a hierarchy
  ``all`` > ``train-ai`` > ``train-genai`` and ``all`` > ``ai-use``, ``all`` > ``search``, where an explicit
  preference for a more specific category overrides the inherited one). Serialization: an RFC 9651
  Structured Field Dictionary whose values are the Tokens ``y`` (allow) and ``n`` (disallow); keys are case
  sensitive. Combining statements: per category, any disallow wins, else any allow, else unknown.
* draft-ietf-aipref-attach: the ``Content-Usage`` HTTP field (a Dictionary, as above) and the robots.txt rule
  ``Content-Usage: <path-pattern> <usage-pref>`` inside a user-agent group. Rules match paths like Allow and
  Disallow (RFC 9309 §2.2.2: longest match by octets); rules with equally specific paths combine as
  statements do (any disallow wins); preferences apply only to paths the group allows to be crawled.
* RFC 9651 (Structured Field Values for HTTP), §3.2 and §4.2.2: the Dictionary grammar implemented by
  :func:`parse_dictionary`, including parameters, inner lists and every bare item type.
* RFC 9309 (Robots Exclusion Protocol): groups, case-insensitive product-token matching, the ``*`` group as a
  fallback, ``*``/``$`` in path patterns and percent-encoding normalization (also used by TDMRep).

Decisions (ours, not the drafts'):

* Syntax is strict: a value that is not a valid Dictionary raises ``aipref_syntax`` (the drafts make such a
  statement "unknown"; for intake we want the publisher to fix it rather than silently record nothing).
* Unknown keys are ignored, as the vocabulary draft requires of recipients, and are returned in
  ``evidence["ignored"]``; so are known keys whose value is not the Token ``y`` or ``n`` (e.g. ``search="n"``).
  With ``strict=True`` (for statements typed in by a rights holder) they raise ``aipref_unknown_category``
  and ``aipref_bad_value`` instead, and a repeated key raises ``aipref_duplicate_key``.
* The legacy labels ``all`` and ``train-genai`` are understood with their vocab-02 hierarchy. ``all=n`` maps
  to ``ReservedUse.ALL`` unless the same statement explicitly allows ``train-ai``, ``train-genai`` or
  ``ai-use``; then only the uses still disallowed are reserved (our vocabulary has no "all except X").
* ``search`` is parsed and kept in evidence but reserves nothing we do.
"""

from __future__ import annotations

import base64
import binascii
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from licensing.terms import IntakeError, Reservation, ReservedUse, Source, Subject, SubjectKind

__all__ = [
    "AIPREF_HIERARCHY",
    "CATEGORIES",
    "ROBOTS_MAX_BYTES",
    "Date",
    "DisplayString",
    "InnerList",
    "Item",
    "PathPattern",
    "PathPatternError",
    "Preference",
    "RobotsGroup",
    "RobotsRule",
    "RobotsTxt",
    "StructuredFieldError",
    "Token",
    "UsageDecision",
    "UsagePreferences",
    "combine",
    "effective_preferences",
    "normalize_target",
    "origin_of",
    "parse_content_usage",
    "parse_dictionary",
    "parse_robots",
    "reservations",
    "reservations_from_robots",
    "reserved_uses_for",
]

# --- RFC 9651 Structured Field Dictionary --------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """An RFC 9651 Token (§3.3.4), kept apart from String so that ``y`` and ``"y"`` stay different."""

    value: str


@dataclass(frozen=True)
class Date:
    """An RFC 9651 Date (§3.3.7): integer seconds since the Unix epoch."""

    seconds: int


@dataclass(frozen=True)
class DisplayString:
    """An RFC 9651 Display String (§3.3.8): Unicode text."""

    value: str


BareItem = bool | int | Decimal | str | bytes | Token | Date | DisplayString


@dataclass(frozen=True)
class Item:
    """A bare item with its parameters (RFC 9651 §3.3)."""

    value: BareItem
    params: Mapping[str, BareItem] = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    """An inner list with its parameters (RFC 9651 §3.1.1)."""

    items: tuple[Item, ...]
    params: Mapping[str, BareItem] = field(default_factory=dict)


class StructuredFieldError(ValueError):
    """An RFC 9651 parse failure at a character position of the input."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"{reason} at position {position}")
        self.reason = reason
        self.position = position


_LCALPHA: Final = frozenset(string.ascii_lowercase)
_DIGIT: Final = frozenset(string.digits)
_ALPHA: Final = frozenset(string.ascii_letters)
_KEY_FIRST: Final = _LCALPHA | {"*"}
_KEY_CHARS: Final = _LCALPHA | _DIGIT | frozenset("_-.*")
_TCHAR: Final = _ALPHA | _DIGIT | frozenset("!#$%&'*+-.^_`|~")
_TOKEN_CHARS: Final = _TCHAR | frozenset(":/")
_BASE64_CHARS: Final = _ALPHA | _DIGIT | frozenset("+/=")
_LCHEX: Final = frozenset("0123456789abcdef")


class _SfParser:
    """RFC 9651 §4.2 parsing algorithms over an ASCII string, one method per algorithm."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> StructuredFieldError:
        return StructuredFieldError(reason, self.pos)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip(self, chars: str) -> None:
        while not self.at_end() and self.text[self.pos] in chars:
            self.pos += 1

    def dictionary(self) -> tuple[dict[str, Item | InnerList], list[str]]:
        """§4.2.2; also returns the keys that appeared more than once (the last value is kept)."""
        members: dict[str, Item | InnerList] = {}
        repeated: list[str] = []
        while not self.at_end():
            key = self.key()
            member: Item | InnerList
            if self.peek() == "=":
                self.pos += 1
                member = self.item_or_inner_list()
            else:
                member = Item(True, self.parameters())
            if key in members:
                repeated.append(key)
            members[key] = member
            self.skip(" \t")
            if self.at_end():
                break
            if self.peek() != ",":
                raise self.fail("expected ',' between dictionary members")
            self.pos += 1
            self.skip(" \t")
            if self.at_end():
                raise self.fail("trailing ',' after the last dictionary member")
        return members, repeated

    def item_or_inner_list(self) -> Item | InnerList:
        return self.inner_list() if self.peek() == "(" else self.item()

    def inner_list(self) -> InnerList:
        """§4.2.1.2."""
        self.pos += 1  # "("
        items: list[Item] = []
        while not self.at_end():
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(tuple(items), self.parameters())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise self.fail("expected ' ' or ')' in inner list")
        raise self.fail("inner list is not closed with ')'")

    def item(self) -> Item:
        """§4.2.3."""
        value = self.bare_item()
        return Item(value, self.parameters())

    def parameters(self) -> dict[str, BareItem]:
        """§4.2.3.2."""
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        """§4.2.3.3: lcalpha or "*", then lcalpha / DIGIT / "_" / "-" / "." / "*"."""
        if not self.peek() or self.peek() not in _KEY_FIRST:
            raise self.fail("a key must start with a lowercase letter or '*'")
        start = self.pos
        while not self.at_end() and self.text[self.pos] in _KEY_CHARS:
            self.pos += 1
        return self.text[start:self.pos]

    def bare_item(self) -> BareItem:
        """§4.2.3.1."""
        char = self.peek()
        if char and (char == "-" or char in _DIGIT):
            return self.number()
        if char == '"':
            return self.string()
        if char in _ALPHA or char == "*":
            return self.token()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        if char == "@":
            return self.date()
        if char == "%":
            return self.display_string()
        raise self.fail("expected a value (number, string, token, byte sequence, boolean, date or display string)")

    def number(self) -> int | Decimal:
        """§4.2.4."""
        is_decimal = False
        sign = 1
        if self.peek() == "-":
            self.pos += 1
            sign = -1
        if self.at_end() or self.peek() not in _DIGIT:
            raise self.fail("expected a digit")
        digits = ""
        while not self.at_end():
            char = self.text[self.pos]
            if char in _DIGIT:
                digits += char
            elif not is_decimal and char == ".":
                if len(digits) > 12:
                    raise self.fail("too many integer digits in a decimal")
                digits += char
                is_decimal = True
            else:
                break
            if not is_decimal and len(digits) > 15:
                raise self.fail("integer has more than 15 digits")
            if is_decimal and len(digits) > 16:
                raise self.fail("decimal has more than 16 characters")
            self.pos += 1
        if not is_decimal:
            return sign * int(digits)
        if digits.endswith("."):
            raise self.fail("decimal ends with '.'")
        if len(digits) - digits.index(".") - 1 > 3:
            raise self.fail("decimal has more than 3 fractional digits")
        return sign * Decimal(digits)

    def string(self) -> str:
        """§4.2.5."""
        self.pos += 1  # DQUOTE
        out: list[str] = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                if self.at_end():
                    raise self.fail("string ends after '\\'")
                escaped = self.text[self.pos]
                self.pos += 1
                if escaped not in ('"', "\\"):
                    raise self.fail("only '\\\"' and '\\\\' are escapes in a string")
                out.append(escaped)
            elif char == '"':
                return "".join(out)
            elif ord(char) < 0x20 or ord(char) > 0x7E:
                raise self.fail("control or non-ASCII character in a string")
            else:
                out.append(char)
        raise self.fail("string is not closed with '\"'")

    def token(self) -> Token:
        """§4.2.6."""
        start = self.pos
        self.pos += 1
        while not self.at_end() and self.text[self.pos] in _TOKEN_CHARS:
            self.pos += 1
        return Token(self.text[start:self.pos])

    def byte_sequence(self) -> bytes:
        """§4.2.7."""
        self.pos += 1  # ":"
        end = self.text.find(":", self.pos)
        if end < 0:
            self.pos = len(self.text)
            raise self.fail("byte sequence is not closed with ':'")
        content = self.text[self.pos:end]
        bad = next((i for i, c in enumerate(content) if c not in _BASE64_CHARS), None)
        if bad is not None:
            self.pos += bad
            raise self.fail("invalid base64 character in a byte sequence")
        self.pos = end + 1
        try:
            # RFC 9651: parsers SHOULD NOT fail when "=" padding is missing.
            return base64.b64decode(content + "=" * (-len(content) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise self.fail("byte sequence is not valid base64") from None

    def boolean(self) -> bool:
        """§4.2.8."""
        self.pos += 1  # "?"
        char = self.peek()
        if char == "1":
            self.pos += 1
            return True
        if char == "0":
            self.pos += 1
            return False
        raise self.fail("a boolean is ?1 or ?0")

    def date(self) -> Date:
        """§4.2.9."""
        self.pos += 1  # "@"
        value = self.number()
        if isinstance(value, Decimal):
            raise self.fail("a date is an integer")
        return Date(value)

    def display_string(self) -> DisplayString:
        """§4.2.10."""
        self.pos += 1  # "%"
        if self.peek() != '"':
            raise self.fail("a display string starts with '%\"'")
        self.pos += 1
        octets = bytearray()
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if ord(char) < 0x20 or ord(char) > 0x7E:
                raise self.fail("control or non-ASCII character in a display string")
            if char == "%":
                hex_digits = self.text[self.pos:self.pos + 2]
                if len(hex_digits) != 2 or not set(hex_digits) <= _LCHEX:
                    raise self.fail("'%' in a display string must be followed by two lowercase hex digits")
                octets.append(int(hex_digits, 16))
                self.pos += 2
            elif char == '"':
                try:
                    return DisplayString(octets.decode("utf-8"))
                except UnicodeDecodeError:
                    raise self.fail("display string is not valid UTF-8") from None
            else:
                octets.append(ord(char))
        raise self.fail("display string is not closed with '\"'")


def _parse_dictionary(value: str | bytes) -> tuple[dict[str, Item | InnerList], list[str]]:
    if isinstance(value, bytes):
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise StructuredFieldError("non-ASCII byte", exc.start) from None
    else:
        text = value
        bad = next((i for i, c in enumerate(text) if ord(c) > 0x7F), None)
        if bad is not None:
            raise StructuredFieldError("non-ASCII character", bad)
    parser = _SfParser(text)
    parser.skip(" ")  # §4.2 step 2: leading SP
    members, repeated = parser.dictionary()
    parser.skip(" ")
    if not parser.at_end():
        raise parser.fail("unexpected characters after the dictionary")
    return members, repeated


def parse_dictionary(value: str | bytes) -> dict[str, Item | InnerList]:
    """Parse an RFC 9651 Dictionary field value (§4.2 with field_type "dictionary"); raises StructuredFieldError."""
    return _parse_dictionary(value)[0]


def _json_safe(value: BareItem | Item | InnerList) -> Any:
    """A JSON-safe rendering of a parsed value, for evidence."""
    if isinstance(value, InnerList):
        return {"inner_list": [_json_safe(item) for item in value.items]}
    if isinstance(value, Item):
        return _json_safe(value.value)
    if isinstance(value, Token):
        return {"token": value.value}
    if isinstance(value, Date):
        return {"date": value.seconds}
    if isinstance(value, DisplayString):
        return {"display_string": value.value}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- Vocabulary ------------------------------------------------------------------------------------------------

CATEGORIES: Final = ("all", "train-ai", "train-genai", "ai-use", "search")

# Parent of each category in the vocab-02 hierarchy: a category without an explicit preference takes its
# parent's. The latest drafts dropped `all` and `train-genai`, which leaves these three as siblings.
AIPREF_HIERARCHY: Final[Mapping[str, str | None]] = {
    "all": None,
    "train-ai": "all",
    "train-genai": "train-ai",
    "ai-use": "all",
    "search": "all",
}

Preference = bool | None  # True allowed, False disallowed, None unknown


def effective_preferences(
    explicit: Mapping[str, bool], hierarchy: Mapping[str, str | None] = AIPREF_HIERARCHY
) -> dict[str, Preference]:
    """Every category's preference in one statement: its explicit value, else its parent's (vocab-02 §7)."""
    result: dict[str, Preference] = {}

    def resolve(category: str) -> Preference:
        if category in explicit:
            return explicit[category]
        parent = hierarchy.get(category)
        return resolve(parent) if parent else None

    for category in hierarchy:
        result[category] = resolve(category)
    return result


def combine(statements: Iterable[Mapping[str, Preference]]) -> dict[str, Preference]:
    """Combine effective preferences of several statements per category: any disallow wins, then any allow."""
    combined: dict[str, Preference] = dict.fromkeys(CATEGORIES)
    for statement in statements:
        for category, value in statement.items():
            if value is False or (value is True and combined.get(category) is None):
                combined[category] = value
    return combined


def reserved_uses_for(effective: Mapping[str, Preference]) -> frozenset[ReservedUse]:
    """The uses reserved by effective preferences (TDM·AI shares this mapping; see the module docstring).

    ``all`` disallowed with nothing under it explicitly allowed is ``ALL``; otherwise training is reserved as
    ``AI_TRAINING`` when all AI training is disallowed, ``GENERATIVE_TRAINING`` when only generative training
    is, and ``ai-use`` disallowed is ``AI_INFERENCE``. ``search`` reserves nothing we do.
    """
    narrowed = any(effective.get(c) is True for c in ("train-ai", "train-genai", "ai-use"))
    if effective.get("all") is False and not narrowed:
        return frozenset({ReservedUse.ALL})
    uses: set[ReservedUse] = set()
    if effective.get("train-genai") is False:
        uses.add(ReservedUse.AI_TRAINING if effective.get("train-ai") is False else ReservedUse.GENERATIVE_TRAINING)
    if effective.get("ai-use") is False:
        uses.add(ReservedUse.AI_INFERENCE)
    return frozenset(uses)


@dataclass(frozen=True)
class UsagePreferences:
    """One parsed Content-Usage statement: explicit y/n per known category, plus what was ignored and why."""

    value: str
    explicit: Mapping[str, bool]
    ignored: tuple[Mapping[str, Any], ...] = ()
    repeated_keys: tuple[str, ...] = ()

    def effective(self) -> dict[str, Preference]:
        """Every category's preference, with the vocab-02 inheritance applied."""
        return effective_preferences(self.explicit)

    def reserved_uses(self) -> frozenset[ReservedUse]:
        """The uses this statement alone reserves."""
        return reserved_uses_for(self.effective())

    def evidence(self) -> dict[str, Any]:
        """JSON-safe record of the statement: verbatim value, what was understood, what was ignored."""
        return {
            "content_usage": self.value,
            "preferences": {key: "y" if allowed else "n" for key, allowed in self.explicit.items()},
            "ignored": [dict(entry) for entry in self.ignored],
            "repeated_keys": list(self.repeated_keys),
        }


def parse_content_usage(value: str, *, strict: bool = False) -> UsagePreferences:
    """Parse a Content-Usage value (vocab draft "Processing Algorithm"); raises IntakeError on bad syntax.

    Unknown keys and known keys with a value other than the Token ``y``/``n`` are ignored and reported, or
    rejected with ``strict=True`` (module docstring).
    """
    try:
        members, repeated = _parse_dictionary(value)
    except StructuredFieldError as exc:
        raise IntakeError(
            "aipref_syntax",
            f"The Content-Usage value is not a valid structured-field dictionary: {exc.reason}. "
            "Write it as comma-separated key=y or key=n pairs with lowercase keys, e.g. \"train-ai=n, search=y\".",
            details={"value": value, "position": exc.position, "reason": exc.reason},
        ) from None
    if strict and repeated:
        raise IntakeError(
            "aipref_duplicate_key",
            f"The Content-Usage value names {repeated[0]!r} more than once; only the last would count. "
            "State each category once.",
            details={"value": value, "key": repeated[0]},
        )
    explicit: dict[str, bool] = {}
    ignored: list[dict[str, Any]] = []
    for key, member in members.items():
        if key not in AIPREF_HIERARCHY:
            if strict:
                raise IntakeError(
                    "aipref_unknown_category",
                    f"{key!r} is not an aipref usage category; use one of {', '.join(CATEGORIES)}.",
                    details={"value": value, "key": key},
                )
            ignored.append({"key": key, "reason": "unknown_category", "value": _json_safe(member)})
            continue
        token = member.value if isinstance(member, Item) else None
        if isinstance(token, Token) and token.value in ("y", "n"):
            explicit[key] = token.value == "y"
            continue
        if strict:
            raise IntakeError(
                "aipref_bad_value",
                f"The preference for {key!r} must be the token y or n (without quotes).",
                details={"value": value, "key": key, "got": _json_safe(member)},
            )
        ignored.append({"key": key, "reason": "not_y_or_n", "value": _json_safe(member)})
    return UsagePreferences(value=value, explicit=explicit, ignored=tuple(ignored), repeated_keys=tuple(repeated))


def reservations(subject: Subject, value: str, *, strict: bool = False) -> list[Reservation]:
    """The reservation a Content-Usage value makes for `subject`: one Reservation, or [] if nothing is reserved."""
    preferences = parse_content_usage(value, strict=strict)
    uses = preferences.reserved_uses()
    if not uses:
        return []
    return [Reservation(subject=subject, uses=uses, source=Source.AIPREF, evidence=preferences.evidence())]


# --- Robots-style path patterns (RFC 9309 §2.2.2-2.2.3; reused by TDMRep) -----------------------------------

_UNRESERVED: Final = _ALPHA | _DIGIT | frozenset("-._~")
_HEX: Final = frozenset(string.hexdigits)


class PathPatternError(ValueError):
    """A path pattern that cannot be matched as written."""

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"{reason} at position {position}")
        self.reason = reason
        self.position = position


def _percent_encode(char: str) -> str:
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def _canonical(text: str, *, pattern: bool, strict: bool) -> str:
    """Percent-encoding normal form shared by patterns and paths (RFC 9309 §2.2.2, TDMRep "sec-tdm-file").

    Escapes of unreserved characters are decoded, other escapes are upper-cased, and characters outside
    printable ASCII are UTF-8 percent-encoded. In a path a literal ``*`` or ``$`` becomes ``%2A``/``%24`` so
    that only a pattern's own ``*``/``$`` act as wildcards and ``/a-%24`` in a pattern matches ``/a-$``.
    """
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%":
            hex_digits = text[i + 1:i + 3]
            if len(hex_digits) == 2 and set(hex_digits) <= _HEX:
                decoded = chr(int(hex_digits, 16))
                out.append(decoded if decoded in _UNRESERVED else f"%{hex_digits.upper()}")
                i += 3
                continue
            if pattern and strict:
                raise PathPatternError("'%' is not followed by two hex digits", i)
            out.append("%25")
        elif char in "*$":
            out.append(char if pattern else _percent_encode(char))
        elif ord(char) <= 0x20 or ord(char) >= 0x7F:
            out.append(_percent_encode(char))
        else:
            out.append(char)
        i += 1
    return "".join(out)


def normalize_target(url_or_path: str) -> str:
    """The path-and-query of a URL (or of a path) in the normal form patterns are matched against."""
    parts = urlsplit(url_or_path)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _canonical(path, pattern=False, strict=False)


@dataclass(frozen=True)
class PathPattern:
    """A robots.txt path pattern: ``*`` matches any run of characters, a final ``$`` anchors the end.

    Matching is case sensitive, against :func:`normalize_target` of a URL, and linear in time (the
    position-set algorithm of Google's reference robots.txt matcher), so hostile patterns cannot blow up.
    """

    text: str
    canonical: str

    @classmethod
    def parse(cls, text: str, *, strict: bool = True) -> PathPattern:
        """Parse a pattern; strict rejects bad escapes, ``$`` before the end and patterns not starting "/" or "*"."""
        if strict:
            if not text:
                raise PathPatternError("the pattern is empty", 0)
            if text[0] not in "/*":
                raise PathPatternError("the pattern must start with '/' or '*'", 0)
            inner_dollar = text.find("$")
            if 0 <= inner_dollar < len(text) - 1:
                raise PathPatternError("'$' may only end a pattern (write a literal '$' as %24)", inner_dollar)
        canonical = _canonical(text, pattern=True, strict=strict)
        if not strict and "$" in canonical[:-1]:
            # RFC 9309 parsers treat a '$' before the end as a literal character.
            canonical = canonical[:-1].replace("$", "%24") + canonical[-1]
        return cls(text=text, canonical=canonical)

    @property
    def octets(self) -> int:
        """Specificity for longest-match (RFC 9309 §2.2.2: the match with the most octets wins)."""
        return len(self.canonical.encode("ascii"))

    def matches(self, target: str) -> bool:
        """Whether a normalized path-and-query (see normalize_target) matches this pattern."""
        pattern = self.canonical
        positions = [0]
        for index, char in enumerate(pattern):
            if char == "$" and index == len(pattern) - 1:
                return positions[-1] == len(target)
            if char == "*":
                positions = list(range(positions[0], len(target) + 1))
                continue
            positions = [p + 1 for p in positions if p < len(target) and target[p] == char]
            if not positions:
                return False
        return True


# --- robots.txt with Content-Usage rules (draft-ietf-aipref-attach §3) ---------------------------------------

ROBOTS_MAX_BYTES: Final = 500 * 1024  # RFC 9309 §2.5: parse at least 500 KiB; we refuse larger files

RuleKind = Literal["allow", "disallow", "content-usage"]


@dataclass(frozen=True)
class RobotsRule:
    """One Allow, Disallow or Content-Usage line of a group."""

    line: int
    kind: RuleKind
    pattern: PathPattern
    raw: str
    preferences: UsagePreferences | None = None


@dataclass(frozen=True)
class RobotsGroup:
    """A group: the user-agent product tokens it names (lowercased) and its rules."""

    user_agents: tuple[str, ...]
    rules: tuple[RobotsRule, ...]


@dataclass(frozen=True)
class UsageDecision:
    """What robots.txt says about one path for one crawler."""

    target: str
    crawlable: bool
    group_user_agents: tuple[str, ...]
    access_rule: RobotsRule | None
    usage_rules: tuple[RobotsRule, ...]
    effective: Mapping[str, Preference]

    def reserved_uses(self) -> frozenset[ReservedUse]:
        """Uses reserved for this path (none when it may not be crawled: the draft implies no preferences)."""
        return reserved_uses_for(self.effective) if self.crawlable else frozenset()


@dataclass(frozen=True)
class RobotsTxt:
    """A parsed robots.txt: its groups in file order."""

    groups: tuple[RobotsGroup, ...]

    def rules_for(self, user_agent: str = "*") -> tuple[tuple[str, ...], tuple[RobotsRule, ...]]:
        """The merged rules of every group naming this crawler's product token, else of the ``*`` groups."""
        agent = _product_token(user_agent) or "*"
        chosen = [g for g in self.groups if agent != "*" and agent in g.user_agents]
        if not chosen:
            chosen = [g for g in self.groups if "*" in g.user_agents]
        agents = tuple(dict.fromkeys(agent for g in chosen for agent in g.user_agents))
        return agents, tuple(rule for g in chosen for rule in g.rules)

    def decide(self, url_or_path: str, user_agent: str = "*") -> UsageDecision:
        """Crawlability (RFC 9309 longest match, Allow on ties) and the Content-Usage preferences for a path."""
        target = normalize_target(url_or_path)
        agents, rules = self.rules_for(user_agent)
        access = [r for r in rules if r.kind != "content-usage" and r.pattern.matches(target)]
        access_rule = max(access, key=lambda r: (r.pattern.octets, r.kind == "allow"), default=None)
        crawlable = target == "/robots.txt" or access_rule is None or access_rule.kind == "allow"
        usage = [r for r in rules if r.kind == "content-usage" and r.pattern.matches(target)]
        longest = max((r.pattern.octets for r in usage), default=0)
        usage_rules = tuple(r for r in usage if r.pattern.octets == longest)
        effective = combine(r.preferences.effective() for r in usage_rules if r.preferences is not None)
        return UsageDecision(target, crawlable, agents, access_rule, usage_rules, effective)


def _product_token(user_agent: str) -> str:
    """The product token of a user-agent line or string, lowercased ("ExampleBot/2.1 (+url)" -> "examplebot")."""
    value = user_agent.strip()
    for separator in (" ", "\t", "/"):
        value = value.split(separator, 1)[0]
    return value.lower()


def _robots_error(code: str, message: str, line: int, text: str, **extra: Any) -> IntakeError:
    return IntakeError(code, message, details={"line": line, "text": text, **extra})


def parse_robots(robots_txt: str | bytes, *, strict: bool = False) -> RobotsTxt:
    """Parse robots.txt groups with Allow, Disallow and Content-Usage rules; raises IntakeError.

    Other lines (Sitemap, Crawl-delay, unparseable lines) are ignored as RFC 9309 §2.2 asks of crawlers.
    Content-Usage rules are ours and are strict: a missing path, a path not starting with "/", a bad pattern,
    a rule outside any group or an invalid preference raises.
    """
    if isinstance(robots_txt, bytes):
        if len(robots_txt) > ROBOTS_MAX_BYTES:
            raise IntakeError(
                "aipref_robots_too_large",
                f"robots.txt is {len(robots_txt)} bytes; files over {ROBOTS_MAX_BYTES} bytes are not accepted.",
                details={"size": len(robots_txt), "limit": ROBOTS_MAX_BYTES},
            )
        try:
            text = robots_txt.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise IntakeError(
                "aipref_robots_encoding",
                "robots.txt is not UTF-8 text (RFC 9309 §2.3); save it as UTF-8.",
                details={"byte_offset": exc.start},
            ) from None
    else:
        text = robots_txt
        if len(text.encode("utf-8")) > ROBOTS_MAX_BYTES:
            raise IntakeError(
                "aipref_robots_too_large",
                f"robots.txt is larger than {ROBOTS_MAX_BYTES} bytes and is not accepted.",
                details={"limit": ROBOTS_MAX_BYTES},
            )
    text = text.removeprefix("\ufeff")

    groups: list[RobotsGroup] = []
    agents: list[str] = []
    rules: list[RobotsRule] = []
    in_rules = False

    def close_group() -> None:
        if agents:
            groups.append(RobotsGroup(tuple(agents), tuple(rules)))

    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content or ":" not in content:
            continue
        key, _, value = content.partition(":")
        key = key.strip().lower()
        value = value.strip()
        if key == "user-agent":
            if in_rules:
                close_group()
                agents, rules, in_rules = [], [], False
            if value:
                agents.append(_product_token(value))
            continue
        if key in ("allow", "disallow"):
            in_rules = True
            if agents and value:
                pattern = PathPattern.parse(value, strict=False)
                rules.append(RobotsRule(number, "allow" if key == "allow" else "disallow", pattern, content))
            continue
        if key != "content-usage":
            continue
        in_rules = True
        if not agents:
            raise _robots_error(
                "aipref_robots_orphan_rule",
                f"The Content-Usage rule on line {number} comes before any User-Agent line, so it applies to "
                "no crawler; put it inside a group (e.g. after \"User-Agent: *\").",
                number, line,
            )
        path, _, preference = value.replace("\t", " ").partition(" ")
        preference = preference.strip()
        if not path.startswith("/") or not preference:
            raise _robots_error(
                "aipref_robots_syntax",
                f"The Content-Usage rule on line {number} must be a path starting with \"/\", whitespace, then "
                "the preferences, e.g. \"Content-Usage: / train-ai=n\".",
                number, line,
            )
        try:
            pattern = PathPattern.parse(path)
        except PathPatternError as exc:
            raise _robots_error(
                "aipref_robots_syntax",
                f"The path of the Content-Usage rule on line {number} is not a valid pattern: {exc.reason}.",
                number, line, position=exc.position,
            ) from None
        try:
            preferences = parse_content_usage(preference, strict=strict)
        except IntakeError as exc:
            raise IntakeError(
                exc.code, f"Line {number}: {exc.message}", details={**exc.details, "line": number, "text": line}
            ) from None
        rules.append(RobotsRule(number, "content-usage", pattern, content, preferences))
    close_group()
    return RobotsTxt(tuple(groups))


def origin_of(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an absolute http(s) URL, default port as None; None if it is not one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        return None
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), None if port in (None, 443 if scheme == "https" else 80) else port


def reservations_from_robots(
    origin: str, robots_txt: str | bytes, urls: Sequence[str], user_agent: str = "*", *, strict: bool = False
) -> list[Reservation]:
    """Reservations the robots.txt of `origin` makes for each of `urls` (one per URL with something reserved).

    The subject is ``url:<url>``; evidence names the group, the deciding Content-Usage lines verbatim and
    the Allow/Disallow rule that made the path crawlable. URLs not at `origin` raise ``aipref_wrong_origin``.
    """
    site = origin_of(origin)
    if site is None:
        raise IntakeError(
            "aipref_bad_origin",
            f"{origin!r} is not an http(s) origin such as \"https://example.com\".",
            details={"origin": origin},
        )
    for url in urls:
        url_origin = origin_of(url)
        if url_origin is None:
            raise IntakeError("aipref_bad_url", f"{url!r} is not an absolute http(s) URL.", details={"url": url})
        if url_origin != site:
            raise IntakeError(
                "aipref_wrong_origin",
                f"{url!r} is not at {origin}; a robots.txt only speaks for its own origin.",
                details={"url": url, "origin": origin},
            )
    robots = parse_robots(robots_txt, strict=strict)
    result: list[Reservation] = []
    for url in urls:
        decision = robots.decide(url, user_agent)
        uses = decision.reserved_uses()
        if not uses:
            continue
        evidence: dict[str, Any] = {
            "url": url,
            "origin": origin,
            "user_agent": user_agent,
            "group_user_agents": list(decision.group_user_agents),
            "path": decision.target,
            "content_usage_rules": [
                {"line": r.line, "rule": r.raw, **(r.preferences.evidence() if r.preferences else {})}
                for r in decision.usage_rules
            ],
            "access_rule": (
                {"line": decision.access_rule.line, "rule": decision.access_rule.raw} if decision.access_rule else None
            ),
        }
        result.append(Reservation(
            subject=Subject(SubjectKind.IDENTIFIER, "url:" + url), uses=uses, source=Source.AIPREF, evidence=evidence
        ))
    return result
