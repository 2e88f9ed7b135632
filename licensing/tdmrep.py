"""W3C TDMRep opt-out intake: ``/.well-known/tdmrep.json``, ``tdm-reservation``/``tdm-policy`` HTTP headers and
HTML ``<meta>`` elements.

Pure and Django-free: callers fetch the file, the response headers and the HTML; these functions parse them,
decide the effective statement for a URL and return ``Reservation`` values. Malformed input raises
:class:`licensing.terms.IntakeError`; nothing here stores anything.

Source: TDM Reservation Protocol (TDMRep), W3C Community Group Final Report (2024), sections
"Declaring the reservation of TDM Rights", "TDM File on the Origin Server", "TDM Header Field in HTTP
Responses", "TDM Metadata in HTML Content" and "Processing priority":

* ``tdm-reservation`` is the integer 1 (TDM rights reserved; the DSM Directive art. 4 opt-out) or 0 (not
  reserved). ``tdm-policy`` is the URL of a TDM Policy; it is only processed when the reservation is 1.
* ``tdmrep.json`` is a JSON array of rules ``{"location", "tdm-reservation", "tdm-policy"?}``; ``location``
  is a robots.txt-style pattern (``*`` any run of characters, a final ``$`` anchors the end, ``%24`` matches
  a literal ``$``), matched case-sensitively against the URL path after normalizing percent-encoding of
  unreserved characters. The first matching rule wins; no match means "unset".
* Header values supersede the file; HTML meta values supersede both.

Decisions (ours):

* The spec tells agents to treat protocol errors (e.g. ``tdm-reservation: 2``) as "unset". For intake we
  are strict instead: any malformed rule, header or meta raises, so a publisher's mistake is reported rather
  than silently read as "no opt-out". Unknown rule properties and non-integer reservations (``"1"``,
  ``true``) are rejected; ``tdm-policy`` must be an absolute http(s) URL.
* A technique's statement is taken as a whole: when headers declare ``tdm-reservation``, the file's
  ``tdm-policy`` for that URL no longer applies. A ``tdm-policy`` without ``tdm-reservation`` in headers or
  meta is rejected (``tdmrep_policy_without_reservation``).
* Patterns are matched against the path plus query string, as robots.txt rules are (RFC 9309 §2.2.2).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urlsplit

from licensing.aipref import PathPattern, PathPatternError, normalize_target, origin_of
from licensing.terms import IntakeError, Reservation, ReservedUse, Source, Subject, SubjectKind

__all__ = [
    "LOCATION",
    "POLICY",
    "RESERVATION",
    "WELL_KNOWN_PATH",
    "DeclaredBy",
    "TdmRepDocument",
    "TdmRepRule",
    "TdmStatement",
    "parse_document",
    "parse_headers",
    "parse_html_meta",
    "reservations",
    "resolve",
]

WELL_KNOWN_PATH: Final = "/.well-known/tdmrep.json"
LOCATION: Final = "location"
RESERVATION: Final = "tdm-reservation"
POLICY: Final = "tdm-policy"
_RULE_PROPERTIES: Final = frozenset({LOCATION, RESERVATION, POLICY})


class DeclaredBy(enum.StrEnum):
    """The TDMRep technique a statement came from, in increasing priority."""

    FILE = "tdmrep.json"
    HEADERS = "http-headers"
    HTML = "html-meta"


@dataclass(frozen=True)
class TdmRepRule:
    """One rule of tdmrep.json: its position, its parsed fields and the object exactly as published."""

    index: int
    location: str
    reservation: int
    policy: str
    raw: Mapping[str, Any]
    pattern: PathPattern = field(repr=False, compare=False)

    def matches(self, url_or_path: str) -> bool:
        """Whether this rule's location pattern matches the path (and query) of a URL or a path."""
        return self.pattern.matches(normalize_target(url_or_path))


@dataclass(frozen=True)
class TdmRepDocument:
    """A parsed /.well-known/tdmrep.json."""

    rules: tuple[TdmRepRule, ...]

    def match(self, url_or_path: str) -> TdmRepRule | None:
        """The first rule whose location matches (TDMRep: "the most specific match is the first in sequence")."""
        target = normalize_target(url_or_path)
        return next((rule for rule in self.rules if rule.pattern.matches(target)), None)


@dataclass(frozen=True)
class TdmStatement:
    """The TDMRep statement in force for a resource and the technique that declared it."""

    reservation: int
    policy: str
    declared_by: DeclaredBy
    evidence: Mapping[str, Any]

    @property
    def reserved(self) -> bool:
        """Whether TDM rights are reserved (tdm-reservation: 1)."""
        return self.reservation == 1


def _policy_url(value: object, *, where: Mapping[str, Any]) -> str:
    """A tdm-policy value, validated as an absolute http(s) URL."""
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.netloc:
            return value.strip()
    raise IntakeError(
        "tdmrep_bad_policy",
        f"tdm-policy must be an absolute http(s) URL of the TDM Policy, not {value!r}.",
        details={**where, "field": POLICY, "value": value},
    )


def parse_document(data: bytes | str) -> TdmRepDocument:
    """Parse and strictly validate /.well-known/tdmrep.json; raises IntakeError naming the rule and field."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = {"line": exc.lineno, "column": exc.colno} if isinstance(exc, json.JSONDecodeError) else {}
        raise IntakeError(
            "tdmrep_not_json",
            f"tdmrep.json is not valid UTF-8 JSON ({exc}); fix the syntax and publish it again.",
            details=where,
        ) from None
    if not isinstance(parsed, list):
        raise IntakeError(
            "tdmrep_not_array",
            "tdmrep.json must be a JSON array of rules, even for a single rule: [{\"location\": \"/\", "
            "\"tdm-reservation\": 1}].",
            details={"got": type(parsed).__name__},
        )
    rules: list[TdmRepRule] = []
    for index, rule in enumerate(parsed):
        where = {"rule_index": index}
        if not isinstance(rule, dict):
            raise IntakeError(
                "tdmrep_bad_rule",
                f"Rule {index} of tdmrep.json must be an object with \"location\" and \"tdm-reservation\".",
                details={**where, "got": type(rule).__name__},
            )
        unknown = sorted(set(rule) - _RULE_PROPERTIES)
        if unknown:
            raise IntakeError(
                "tdmrep_unknown_property",
                f"Rule {index} of tdmrep.json has unknown properties {', '.join(unknown)}; a rule accepts only "
                "\"location\", \"tdm-reservation\" and \"tdm-policy\" (check the spelling and case).",
                details={**where, "fields": unknown},
            )
        missing = [name for name in (LOCATION, RESERVATION) if name not in rule]
        if missing:
            raise IntakeError(
                "tdmrep_missing_field",
                f"Rule {index} of tdmrep.json lacks {' and '.join(missing)}; both \"location\" and "
                "\"tdm-reservation\" are mandatory.",
                details={**where, "fields": missing},
            )
        location = rule[LOCATION]
        if not isinstance(location, str):
            raise IntakeError(
                "tdmrep_bad_location",
                f"The location of rule {index} must be a string path pattern such as \"/\" or \"/images/*.jpg\".",
                details={**where, "field": LOCATION, "value": location},
            )
        try:
            pattern = PathPattern.parse(location)
        except PathPatternError as exc:
            raise IntakeError(
                "tdmrep_bad_location",
                f"The location {location!r} of rule {index} is not a valid pattern: {exc.reason}.",
                details={**where, "field": LOCATION, "value": location, "position": exc.position},
            ) from None
        reservation = rule[RESERVATION]
        # bool is an int in Python; JSON true/false is not a TDMRep value.
        if isinstance(reservation, bool) or not isinstance(reservation, int) or reservation not in (0, 1):
            raise IntakeError(
                "tdmrep_bad_reservation",
                f"tdm-reservation of rule {index} must be the integer 1 (reserved) or 0 (not reserved), "
                f"not {json.dumps(reservation)}.",
                details={**where, "field": RESERVATION, "value": reservation},
            )
        policy = _policy_url(rule[POLICY], where=where) if POLICY in rule else ""
        rules.append(TdmRepRule(index, location, reservation, policy, rule, pattern))
    return TdmRepDocument(tuple(rules))


_IN: Final = {DeclaredBy.HEADERS: "in the response headers", DeclaredBy.HTML: "in the page's <meta> elements"}


def _reservation_text(value: str | None, *, declared_by: DeclaredBy, where: Mapping[str, Any]) -> int:
    text = (value or "").strip()
    if text not in ("0", "1"):
        raise IntakeError(
            "tdmrep_bad_reservation",
            f"tdm-reservation {_IN[declared_by]} must be 1 (reserved) or 0 (not reserved), not {value!r}.",
            details={**where, "field": RESERVATION, "value": value},
        )
    return int(text)


def _statement(
    reservation_value: str | None, policy_value: str | None, *, declared_by: DeclaredBy, verbatim: Mapping[str, Any]
) -> TdmStatement | None:
    where = {"declared_by": declared_by.value}
    if reservation_value is None:
        if policy_value is not None:
            raise IntakeError(
                "tdmrep_policy_without_reservation",
                f"tdm-policy is declared {_IN[declared_by]} without tdm-reservation; add tdm-reservation 1 "
                "(or remove the policy).",
                details={**where, "value": policy_value},
            )
        return None
    reservation = _reservation_text(reservation_value, declared_by=declared_by, where=where)
    policy = _policy_url(policy_value, where=where) if policy_value is not None else ""
    key = "headers" if declared_by is DeclaredBy.HEADERS else "html_meta"
    return TdmStatement(
        reservation=reservation,
        policy=policy if reservation == 1 else "",  # TDMRep: agents SHOULD NOT process a policy with 0
        declared_by=declared_by,
        evidence={"declared_by": declared_by.value, key: dict(verbatim)},
    )


def parse_headers(headers: Mapping[str, str]) -> TdmStatement | None:
    """The statement made by tdm-reservation / tdm-policy response headers (names case-insensitive), or None."""
    found: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.strip().lower()
        if lowered not in (RESERVATION, POLICY):
            continue
        if lowered in found and found[lowered].strip() != value.strip():
            raise IntakeError(
                "tdmrep_conflicting_headers",
                f"The response carries {lowered} twice with different values; send it once.",
                details={"field": lowered, "values": [found[lowered], value]},
            )
        found[lowered] = value
    return _statement(
        found.get(RESERVATION), found.get(POLICY), declared_by=DeclaredBy.HEADERS, verbatim=found
    )


class _MetaCollector(HTMLParser):
    """Collects the content of <meta name="tdm-reservation|tdm-policy"> elements, with their positions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: dict[str, list[tuple[str | None, int]]] = {RESERVATION: [], POLICY: []}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "meta":
            return
        values = dict(attrs)
        name = (values.get("name") or "").strip().lower()
        if name in self.found:
            self.found[name].append((values.get("content"), self.getpos()[0]))


def parse_html_meta(html: str) -> TdmStatement | None:
    """The statement made by <meta name="tdm-reservation"> / <meta name="tdm-policy"> in an HTML page, or None."""
    collector = _MetaCollector()
    collector.feed(html)
    collector.close()
    chosen: dict[str, str | None] = {}
    for name, occurrences in collector.found.items():
        distinct = {content for content, _ in occurrences}
        if len(distinct) > 1:
            raise IntakeError(
                "tdmrep_conflicting_meta",
                f"The page has several <meta name=\"{name}\"> elements with different content; keep one.",
                details={"field": name, "values": [content for content, _ in occurrences],
                         "lines": [line for _, line in occurrences]},
            )
        if occurrences:
            content, line = occurrences[0]
            if content is None:
                raise IntakeError(
                    "tdmrep_bad_reservation" if name == RESERVATION else "tdmrep_bad_policy",
                    f"<meta name=\"{name}\"> on line {line} has no content attribute.",
                    details={"declared_by": DeclaredBy.HTML.value, "field": name, "line": line},
                )
            chosen[name] = content
    verbatim = {name: value for name, value in chosen.items() if value is not None}
    return _statement(chosen.get(RESERVATION), chosen.get(POLICY), declared_by=DeclaredBy.HTML, verbatim=verbatim)


def _file_statement(document: TdmRepDocument, url: str) -> TdmStatement | None:
    rule = document.match(url)
    if rule is None:
        return None
    return TdmStatement(
        reservation=rule.reservation,
        policy=rule.policy if rule.reservation == 1 else "",
        declared_by=DeclaredBy.FILE,
        evidence={"declared_by": DeclaredBy.FILE.value, "rule_index": rule.index, "rule": dict(rule.raw)},
    )


def resolve(
    url: str,
    *,
    document: TdmRepDocument | None = None,
    headers: Mapping[str, str] | None = None,
    html: str | None = None,
) -> TdmStatement | None:
    """The effective statement for `url`: HTML meta over headers over tdmrep.json; None if all are unset.

    The returned statement's evidence holds the deciding input verbatim plus, under "overridden", the
    lower-priority statements it superseded.
    """
    candidates = [
        parse_html_meta(html) if html is not None else None,
        parse_headers(headers) if headers is not None else None,
        _file_statement(document, url) if document is not None else None,
    ]
    present = [statement for statement in candidates if statement is not None]
    if not present:
        return None
    winner, *overridden = present
    evidence = {"url": url, **winner.evidence}
    if overridden:
        evidence["overridden"] = [dict(statement.evidence) for statement in overridden]
    return TdmStatement(winner.reservation, winner.policy, winner.declared_by, evidence)


def reservations(
    origin: str,
    urls: Iterable[str],
    *,
    document: TdmRepDocument | None = None,
    headers_by_url: Mapping[str, Mapping[str, str]] | None = None,
    html_by_url: Mapping[str, str] | None = None,
) -> list[Reservation]:
    """A DATA_MINING Reservation for every URL at `origin` whose effective statement is tdm-reservation: 1.

    The subject is ``url:<url>``; the evidence is the deciding rule object, header values or meta content
    verbatim (see resolve). A URL not at `origin` raises ``tdmrep_wrong_origin``.
    """
    site = origin_of(origin)
    if site is None:
        raise IntakeError(
            "tdmrep_bad_origin",
            f"{origin!r} is not an http(s) origin such as \"https://publisher.example\".",
            details={"origin": origin},
        )
    url_list = list(urls)
    for url in url_list:
        url_origin = origin_of(url)
        if url_origin is None:
            raise IntakeError("tdmrep_bad_url", f"{url!r} is not an absolute http(s) URL.", details={"url": url})
        if url_origin != site:
            raise IntakeError(
                "tdmrep_wrong_origin",
                f"{url!r} is not at {origin}; its tdmrep.json only speaks for its own origin.",
                details={"url": url, "origin": origin},
            )
    result: list[Reservation] = []
    for url in url_list:
        statement = resolve(
            url,
            document=document,
            headers=(headers_by_url or {}).get(url),
            html=(html_by_url or {}).get(url),
        )
        if statement is None or not statement.reserved:
            continue
        result.append(Reservation(
            subject=Subject(SubjectKind.IDENTIFIER, "url:" + url),
            uses=frozenset({ReservedUse.DATA_MINING}),
            source=Source.TDMREP,
            evidence={"origin": origin, **statement.evidence},
            policy_url=statement.policy,
        ))
    return result
