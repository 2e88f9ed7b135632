"""IETF aipref intake: RFC 9651 dictionaries, the vocabulary and its mapping, and Content-Usage in robots.txt."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from licensing import aipref
from licensing.aipref import Date, DisplayString, InnerList, Item, PathPattern, StructuredFieldError, Token
from licensing.terms import IntakeError, ReservedUse, Source, Subject, SubjectKind

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "optouts"
VECTORS = json.loads((ASSETS / "content-usage.json").read_text())
ROBOTS = (ASSETS / "robots.txt").read_text()
ORIGIN = "https://www.nordlicht-musikverlag.example"
WORK = Subject(SubjectKind.WORK, "work-0001")


def uses(*names: str) -> frozenset[ReservedUse]:
    return frozenset(ReservedUse(name) for name in names)


# --- RFC 9651 dictionary grammar ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a=1, b=-42, c=999999999999999", {"a": Item(1), "b": Item(-42), "c": Item(999999999999999)}),
        ("d=1.5, e=-0.001, f=123456789012.1", {"d": Item(Decimal("1.5")), "e": Item(Decimal("-0.001")),
                                              "f": Item(Decimal("123456789012.1"))}),
        ('s="say \\"hi\\" \\\\ bye"', {"s": Item('say "hi" \\ bye')}),
        ("t=foo:bar/baz*.x, u=*star", {"t": Item(Token("foo:bar/baz*.x")), "u": Item(Token("*star"))}),
        ("b=:aGVsbG8=:, c=:aGVsbG8:", {"b": Item(b"hello"), "c": Item(b"hello")}),
        ("yes=?1, no=?0, bare", {"yes": Item(True), "no": Item(False), "bare": Item(True)}),
        ("when=@1700000000", {"when": Item(Date(1700000000))}),
        ('ds=%"caf%c3%a9"', {"ds": Item(DisplayString("café"))}),
        ("l=(1 tok \"s\");lp=2, e=()", {"l": InnerList((Item(1), Item(Token("tok")), Item("s")), {"lp": 2}),
                                        "e": InnerList(())}),
        ("k;p1;p2=x", {"k": Item(True, {"p1": True, "p2": Token("x")})}),
        ("*k.e_y-1=1", {"*k.e_y-1": Item(1)}),
        ("a=1,b=2,\t c=3", {"a": Item(1), "b": Item(2), "c": Item(3)}),
        ("a=1, b=2, a=3", {"a": Item(3), "b": Item(2)}),
        ("", {}),
    ],
)
def test_structured_field_dictionaries_parse_per_rfc_9651(value: str, expected: dict[str, Any]) -> None:
    assert aipref.parse_dictionary(value) == expected


def test_a_repeated_dictionary_key_keeps_its_first_position_and_last_value() -> None:
    assert list(aipref.parse_dictionary("a=1, b=2, a=3")) == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "position"),
    [
        ("a=1234567890123456", 17),  # 16-digit integer
        ("a=1234567890123.1", 15),  # 13 integer digits before "."
        ("a=1.", 4),
        ("a=1.2.3", 5),
        ("a=-", 3),
        ("a=@1.5", 6),
        ('a=%"x', 5),
        ('a=%"%C3%A9"', 5),  # display-string escapes are lowercase hex
        ('a=%"%ff"', 8),  # not UTF-8
        ("a=:abc", 6),
        ("a=(1,2)", 4),
        ("a=1;P=2", 4),
        ("a=1,", 4),
        (" ,a=1", 1),
        ("a=1 ", None),  # trailing SP is allowed: a valid value, no error
    ],
)
def test_malformed_dictionaries_fail_at_the_offending_position(value: str, position: int | None) -> None:
    if position is None:
        assert aipref.parse_dictionary(value) == {"a": Item(1)}
        return
    with pytest.raises(StructuredFieldError) as caught:
        aipref.parse_dictionary(value)
    assert caught.value.position == position


def test_dictionary_bytes_must_be_ascii() -> None:
    with pytest.raises(StructuredFieldError) as caught:
        aipref.parse_dictionary("a=1, ü=2".encode())
    assert caught.value.position == 5


# --- Vocabulary and mapping ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", VECTORS["statements"], ids=lambda c: c["name"])
def test_content_usage_statements_reserve_what_the_vectors_say(case: dict[str, Any]) -> None:
    preferences = aipref.parse_content_usage(case["value"])
    assert preferences.reserved_uses() == uses(*case["uses"])
    assert [entry["key"] for entry in preferences.ignored] == case.get("ignored", [])
    assert list(preferences.repeated_keys) == case.get("repeated", [])


@pytest.mark.parametrize(
    "case", [c for c in VECTORS["statements"] if "strict_code" in c], ids=lambda c: c["name"]
)
def test_strict_mode_rejects_what_lenient_mode_ignores(case: dict[str, Any]) -> None:
    with pytest.raises(IntakeError) as caught:
        aipref.parse_content_usage(case["value"], strict=True)
    assert caught.value.code == case["strict_code"]
    assert caught.value.details["value"] == case["value"]


@pytest.mark.parametrize("case", VECTORS["syntax_errors"], ids=lambda c: c["name"])
def test_malformed_content_usage_is_rejected_with_the_position(case: dict[str, Any]) -> None:
    with pytest.raises(IntakeError) as caught:
        aipref.reservations(WORK, case["value"])
    assert caught.value.code == "aipref_syntax"
    assert caught.value.details["position"] == case["position"]
    assert caught.value.details["value"] == case["value"]
    assert "train-ai=n" in caught.value.message  # the message shows a correct example


def test_a_disallowing_header_yields_one_reservation_with_its_evidence() -> None:
    [reservation] = aipref.reservations(WORK, "train-ai=n, ai-use=n, search=y, x-vendor=n")
    assert reservation.subject == WORK
    assert reservation.source is Source.AIPREF
    assert reservation.uses == uses("ai_training", "ai_inference")
    assert reservation.evidence["content_usage"] == "train-ai=n, ai-use=n, search=y, x-vendor=n"
    assert reservation.evidence["preferences"] == {"train-ai": "n", "ai-use": "n", "search": "y"}
    assert reservation.evidence["ignored"] == [
        {"key": "x-vendor", "reason": "unknown_category", "value": {"token": "n"}}
    ]
    json.dumps(reservation.evidence)  # JSON-safe


def test_a_header_that_reserves_nothing_yields_no_reservation() -> None:
    assert aipref.reservations(WORK, "train-ai=y, search=y") == []


def test_unknown_category_error_names_the_valid_categories() -> None:
    with pytest.raises(IntakeError) as caught:
        aipref.reservations(WORK, "trian-ai=n", strict=True)
    assert caught.value.details["key"] == "trian-ai"
    assert "train-ai" in caught.value.message


def test_combining_statements_lets_any_disallow_win_per_category() -> None:
    header = aipref.parse_content_usage("train-ai=y, ai-use=y").effective()
    robots = aipref.parse_content_usage("train-ai=n").effective()
    combined = aipref.combine([header, robots])
    assert combined["train-ai"] is False
    assert combined["ai-use"] is True
    assert combined["search"] is None
    assert aipref.reserved_uses_for(combined) == uses("ai_training")


def test_combining_nothing_leaves_every_category_unknown() -> None:
    assert aipref.combine([]) == dict.fromkeys(aipref.CATEGORIES)


def test_legacy_hierarchy_lets_a_specific_preference_override_all() -> None:
    effective = aipref.parse_content_usage("all=n, train-ai=y").effective()
    assert effective == {"all": False, "train-ai": True, "train-genai": True, "ai-use": False, "search": False}


# --- Robots-style path patterns --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "target", "matches"),
    [
        ("/", "/anything/at/all", True),
        ("/fish", "/fish.html", True),
        ("/fish", "/Fish.html", False),  # case sensitive
        ("/fish/", "/fish", False),
        ("/*.php", "/folder/filename.php?parameters", True),
        ("/*.php$", "/filename.php?parameters", False),
        ("/*.php$", "/filename.php", True),
        ("/fish*.php", "/fishheads/catfish.php?x", True),
        ("/a/*/c", "/a/b/x/c/d", True),
        ("/a/*/c", "/a/c", False),
        ("*", "/", True),
        ("/$", "/", True),
        ("/$", "/index.html", False),
        ("/path/foo-%24", "/path/foo-$", True),  # TDMRep / RFC 9309: %24 matches a literal $
        ("/path/foo-%24", "/path/foo-%24", True),
        ("/star-%2A", "/star-*", True),
        ("/%7Euser/", "/~user/index", True),  # escapes of unreserved characters are decoded
        ("/~user/", "/%7euser/index", True),
        ("/a%2Fb", "/a/b", False),  # an escaped "/" is not a "/"
        ("/a%2fb", "/a%2Fb", True),  # escape case is normalized
        ("/café", "/caf%C3%A9/menu", True),  # non-ASCII is UTF-8 percent-encoded
        ("/search?q=", "/search?q=tdm", True),  # the query is part of the target
    ],
)
def test_path_patterns_match_like_robots_txt(pattern: str, target: str, matches: bool) -> None:
    assert PathPattern.parse(pattern).matches(aipref.normalize_target(target)) is matches


def test_path_patterns_match_full_urls_by_path_and_query_only() -> None:
    pattern = PathPattern.parse("/catalogue/*.mp3$")
    assert pattern.matches(aipref.normalize_target(f"{ORIGIN}/catalogue/cue-14.mp3#t=30"))
    assert aipref.normalize_target("https://example.com") == "/"


@pytest.mark.parametrize(
    ("pattern", "position"), [("", 0), ("images/", 0), ("/a$b", 2), ("/a%zz", 2), ("/a%4", 2)]
)
def test_strict_path_patterns_reject_what_would_match_by_accident(pattern: str, position: int) -> None:
    with pytest.raises(aipref.PathPatternError) as caught:
        PathPattern.parse(pattern)
    assert caught.value.position == position


def test_lenient_path_patterns_treat_an_inner_dollar_as_a_literal() -> None:
    pattern = PathPattern.parse("/price$list$", strict=False)
    assert pattern.matches(aipref.normalize_target("/price$list"))
    assert not pattern.matches(aipref.normalize_target("/price$list/2024"))


def test_path_matching_stays_linear_on_hostile_patterns() -> None:
    pattern = PathPattern.parse("/" + "*a" * 200 + "$")
    target = "/" + "a" * 5000 + "b"
    started = time.perf_counter()
    assert not pattern.matches(target)
    assert time.perf_counter() - started < 2.0


# --- robots.txt Content-Usage rules ----------------------------------------------------------------------------


def robots_reservations(paths: list[str], user_agent: str = "*") -> dict[str, frozenset[ReservedUse]]:
    urls = [ORIGIN + path for path in paths]
    found = aipref.reservations_from_robots(ORIGIN, ROBOTS, urls, user_agent)
    return {r.subject.value.removeprefix("url:" + ORIGIN): r.uses for r in found}


def test_robots_content_usage_applies_the_longest_matching_path() -> None:
    assert robots_reservations(["/cues/nachtfahrt", "/press/kit.zip", "/catalogue/cue-14"]) == {
        "/cues/nachtfahrt": uses("ai_training"),
        "/catalogue/cue-14": uses("ai_training", "ai_inference"),
    }


def test_robots_rules_with_identical_paths_combine_with_disallow_winning() -> None:
    decision = aipref.parse_robots(ROBOTS).decide(ORIGIN + "/catalogue/cue-14")
    assert [rule.line for rule in decision.usage_rules] == [10, 11]
    assert decision.effective["train-genai"] is False
    assert decision.effective["ai-use"] is False


def test_robots_end_anchored_wildcard_rule_applies_only_to_matching_files() -> None:
    assert robots_reservations(["/library/bach/bwv-1007.mid", "/library/bach/bwv-1007.midi"]) == {
        "/library/bach/bwv-1007.mid": uses("all"),
        "/library/bach/bwv-1007.midi": uses("ai_training"),
    }


def test_robots_paths_that_may_not_be_crawled_carry_no_preferences() -> None:
    assert robots_reservations(["/account/settings", "/cart", "/cartography/maps"]) == {}
    decision = aipref.parse_robots(ROBOTS).decide("/cartography/maps")
    assert decision.crawlable is False
    assert decision.access_rule is not None and decision.access_rule.raw == "Disallow: /cart"


def test_robots_allow_wins_a_tie_with_disallow() -> None:
    robots = aipref.parse_robots("User-agent: *\nDisallow: /a\nAllow: /a\nContent-Usage: / train-ai=n\n")
    assert robots.decide("/a/b").crawlable is True


def test_robots_txt_itself_is_always_crawlable() -> None:
    robots = aipref.parse_robots("User-agent: *\nDisallow: /\nContent-Usage: / train-ai=n\n")
    assert robots.decide("/robots.txt").crawlable is True
    assert robots.decide("/index.html").crawlable is False


def test_robots_named_crawler_uses_its_own_group_not_the_star_group() -> None:
    agent = "ExampleNewsBot/2.1 (+https://news.example/bot)"
    assert robots_reservations(["/cues/nachtfahrt", "/catalogue/cue-14"], agent) == {}


def test_robots_crawler_without_a_group_falls_back_to_the_star_group() -> None:
    assert robots_reservations(["/cues/nachtfahrt"], "ClearcueBot/1.0") == {"/cues/nachtfahrt": uses("ai_training")}


def test_robots_crawler_disallowed_everywhere_gets_no_preferences() -> None:
    assert robots_reservations(["/cues/nachtfahrt"], "exampleaibot") == {}


def test_robots_groups_naming_the_same_crawler_are_merged() -> None:
    text = (
        "User-agent: *\nContent-Usage: / train-ai=n\n\n"
        "User-agent: other\nAllow: /\n\n"
        "User-agent: *\nContent-Usage: / ai-use=n\n"
    )
    decision = aipref.parse_robots(text).decide("/x")
    assert aipref.reserved_uses_for(decision.effective) == uses("ai_training", "ai_inference")


def test_robots_reservation_evidence_quotes_the_deciding_lines() -> None:
    [reservation] = aipref.reservations_from_robots(ORIGIN, ROBOTS, [ORIGIN + "/catalogue/cue-14"])
    assert reservation.subject == Subject(SubjectKind.IDENTIFIER, f"url:{ORIGIN}/catalogue/cue-14")
    assert reservation.source is Source.AIPREF
    evidence = reservation.evidence
    assert evidence["group_user_agents"] == ["*"]
    assert [rule["line"] for rule in evidence["content_usage_rules"]] == [10, 11]
    assert evidence["content_usage_rules"][1]["rule"] == (
        'Content-Usage: /catalogue/ train-genai=n;note="rights reserved", x-partner-ok=y'
    )
    assert evidence["content_usage_rules"][1]["ignored"][0]["key"] == "x-partner-ok"
    assert evidence["access_rule"] == {"line": 5, "rule": "Allow: /"}
    json.dumps(evidence)


def test_robots_bytes_with_a_byte_order_mark_parse_like_text() -> None:
    data = b"\xef\xbb\xbf" + ROBOTS.encode()
    assert aipref.reservations_from_robots(ORIGIN, data, [ORIGIN + "/x"]) == aipref.reservations_from_robots(
        ORIGIN, ROBOTS, [ORIGIN + "/x"]
    )


def test_robots_default_port_and_host_case_count_as_the_same_origin() -> None:
    found = aipref.reservations_from_robots(ORIGIN, ROBOTS, ["https://WWW.Nordlicht-Musikverlag.example:443/x"])
    assert len(found) == 1


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("Content-Usage: / train-ai=n\nUser-agent: *\n", "aipref_robots_orphan_rule", 1),
        ("User-agent: *\nContent-Usage: train-ai=n\n", "aipref_robots_syntax", 2),
        ("User-agent: *\nContent-Usage: /\n", "aipref_robots_syntax", 2),
        ("User-agent: *\nContent-Usage: /a$b train-ai=n\n", "aipref_robots_syntax", 2),
        ("User-agent: *\nAllow: /\n\nContent-Usage: / train-ai=n x\n", "aipref_syntax", 4),
        ("User-agent: *\nContent-Usage: / Train-AI=n\n", "aipref_syntax", 2),
    ],
)
def test_malformed_content_usage_rules_are_rejected_with_the_line(text: str, code: str, line: int) -> None:
    with pytest.raises(IntakeError) as caught:
        aipref.parse_robots(text)
    assert caught.value.code == code
    assert caught.value.details["line"] == line


def test_strict_robots_parsing_rejects_unknown_categories_with_the_line() -> None:
    with pytest.raises(IntakeError) as caught:
        aipref.parse_robots("User-agent: *\nContent-Usage: / tdm=n\n", strict=True)
    assert (caught.value.code, caught.value.details["line"]) == ("aipref_unknown_category", 2)


def test_other_robots_lines_are_ignored_as_rfc_9309_asks() -> None:
    text = (
        "Sitemap: https://x.example/s.xml\nCrawl-delay: 10\nthis line has no colon\n"
        "User-agent: *\nContent-Usage: / ai-use=n\n"
    )
    assert aipref.parse_robots(text).decide("/").reserved_uses() == uses("ai_inference")


def test_robots_files_over_500_kib_are_refused() -> None:
    big = "User-agent: *\n" + "# padding\n" * 60_000
    with pytest.raises(IntakeError) as caught:
        aipref.parse_robots(big.encode())
    assert caught.value.code == "aipref_robots_too_large"
    with pytest.raises(IntakeError):
        aipref.parse_robots(big)


def test_robots_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(IntakeError) as caught:
        aipref.parse_robots(b"User-agent: *\nContent-Usage: /caf\xe9 train-ai=n\n")
    assert caught.value.code == "aipref_robots_encoding"
    assert caught.value.details["byte_offset"] == 33


@pytest.mark.parametrize(
    ("origin", "urls", "code"),
    [
        ("ftp://files.example", [], "aipref_bad_origin"),
        ("www.nordlicht-musikverlag.example", [], "aipref_bad_origin"),
        (ORIGIN, ["/relative/path"], "aipref_bad_url"),
        (ORIGIN, ["http://www.nordlicht-musikverlag.example/x"], "aipref_wrong_origin"),
        (ORIGIN, ["https://cdn.nordlicht-musikverlag.example/x"], "aipref_wrong_origin"),
        (ORIGIN, ["https://www.nordlicht-musikverlag.example:8443/x"], "aipref_wrong_origin"),
    ],
)
def test_robots_only_speaks_for_urls_at_its_own_origin(origin: str, urls: list[str], code: str) -> None:
    with pytest.raises(IntakeError) as caught:
        aipref.reservations_from_robots(origin, ROBOTS, urls)
    assert caught.value.code == code
