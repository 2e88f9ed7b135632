"""W3C TDMRep intake: tdmrep.json rules, headers, HTML meta, their precedence, and the reservations produced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from licensing import tdmrep
from licensing.tdmrep import DeclaredBy
from licensing.terms import IntakeError, ReservedUse, Source, Subject, SubjectKind

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "optouts"
PUBLISHED = (ASSETS / "tdmrep.json").read_bytes()
INVALID = json.loads((ASSETS / "tdmrep-invalid.json").read_text())
PAGE = (ASSETS / "page-with-tdm-meta.html").read_text()
ORIGIN = "https://www.nordlicht-musikverlag.example"
POLICY_JSON = f"{ORIGIN}/policies/tdm-licensing.json"
POLICY_HTML = f"{ORIGIN}/legal/text-and-data-mining.html"


@pytest.fixture(scope="module")
def document() -> tdmrep.TdmRepDocument:
    return tdmrep.parse_document(PUBLISHED)


# --- tdmrep.json -------------------------------------------------------------------------------------------------


def test_a_published_tdmrep_file_parses_into_rules_in_order(document: tdmrep.TdmRepDocument) -> None:
    assert [rule.location for rule in document.rules] == [
        "/press/", "/catalogue/previews/*.mp3$", "/catalogue/", "/scores/*.pdf", "/open-archive/public-domain/",
        "/open-archive/", "/",
    ]
    assert document.rules[1].policy == POLICY_JSON
    assert document.rules[0].raw == {"location": "/press/", "tdm-reservation": 0}


@pytest.mark.parametrize(
    ("path", "rule_index"),
    [
        ("/press/2026/release.html", 0),
        ("/catalogue/previews/cue-14.mp3", 1),
        ("/catalogue/previews/cue-14.mp3?download=1", 2),  # "$" anchors the end: a query string breaks the match
        ("/catalogue/previews/cue-14.wav", 2),
        ("/scores/bach/bwv1007.pdf", 3),
        ("/scores/bach/bwv1007.pdf.html", 3),  # no "$": the pattern is a prefix
        ("/scores/index.html", 6),
        ("/open-archive/public-domain/satie.mid", 4),
        ("/open-archive/modern/cue.mid", 5),
        ("/", 6),
        ("/Press/2026/release.html", 6),  # case sensitive
        ("/%70ress/2026/release.html", 0),  # %70 is "p", an unreserved character: decoded before matching
    ],
)
def test_the_first_matching_rule_wins(document: tdmrep.TdmRepDocument, path: str, rule_index: int) -> None:
    rule = document.match(path)
    assert rule is not None
    assert rule.index == rule_index


def test_a_url_no_rule_matches_is_unset() -> None:
    document = tdmrep.parse_document('[{"location": "/private/", "tdm-reservation": 1}]')
    assert document.match("/public/page.html") is None
    assert tdmrep.resolve(f"{ORIGIN}/public/page.html", document=document) is None


def test_an_empty_rule_list_is_valid_and_reserves_nothing() -> None:
    assert tdmrep.parse_document(b"[]").rules == ()


def test_a_literal_dollar_is_matched_with_percent_24() -> None:
    document = tdmrep.parse_document('[{"location": "/path/foo-%24", "tdm-reservation": 1}]')
    assert document.match("/path/foo-$") is not None
    assert document.match("/path/foo-") is None


def test_rules_match_against_full_urls_as_well_as_paths(document: tdmrep.TdmRepDocument) -> None:
    rule = document.match(f"{ORIGIN}/scores/bach/bwv1007.pdf#page=2")
    assert rule is not None and rule.index == 3


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case["mutation"])
def test_malformed_tdmrep_files_are_rejected_with_a_precise_code(case: dict[str, Any]) -> None:
    data = case["document_text"] if "document_text" in case else json.dumps(case["document"])
    with pytest.raises(IntakeError) as caught:
        tdmrep.parse_document(data)
    assert caught.value.code == case["code"]
    for key, value in case.get("details", {}).items():
        assert caught.value.details[key] == value
    assert caught.value.message.endswith(".")


def test_a_json_syntax_error_reports_line_and_column() -> None:
    with pytest.raises(IntakeError) as caught:
        tdmrep.parse_document('[\n  {"location": "/" "tdm-reservation": 1}\n]')
    assert caught.value.code == "tdmrep_not_json"
    assert (caught.value.details["line"], caught.value.details["column"]) == (2, 20)


def test_a_file_that_is_not_utf8_is_not_json() -> None:
    with pytest.raises(IntakeError) as caught:
        tdmrep.parse_document(b'[{"location": "/caf\xe9", "tdm-reservation": 1}]')
    assert caught.value.code == "tdmrep_not_json"


# --- Headers and HTML meta -------------------------------------------------------------------------------------


def test_headers_declare_a_reservation_with_a_policy() -> None:
    headers = {"Content-Type": "audio/mpeg", "TDM-Reservation": " 1 ", "tdm-policy": POLICY_JSON}
    statement = tdmrep.parse_headers(headers)
    assert statement is not None
    assert (statement.reservation, statement.policy, statement.declared_by) == (1, POLICY_JSON, DeclaredBy.HEADERS)
    assert statement.evidence["headers"] == {"tdm-reservation": " 1 ", "tdm-policy": POLICY_JSON}


def test_headers_without_tdm_fields_declare_nothing() -> None:
    assert tdmrep.parse_headers({"Content-Type": "text/html"}) is None


def test_a_policy_is_not_kept_when_rights_are_not_reserved() -> None:
    statement = tdmrep.parse_headers({"tdm-reservation": "0", "tdm-policy": POLICY_JSON})
    assert statement is not None and statement.policy == ""
    assert statement.evidence["headers"]["tdm-policy"] == POLICY_JSON  # still recorded verbatim


@pytest.mark.parametrize(
    ("headers", "code", "field"),
    [
        ({"tdm-reservation": "2"}, "tdmrep_bad_reservation", "tdm-reservation"),
        ({"tdm-reservation": "yes"}, "tdmrep_bad_reservation", "tdm-reservation"),
        ({"tdm-reservation": "1, 1"}, "tdmrep_bad_reservation", "tdm-reservation"),
        ({"tdm-reservation": ""}, "tdmrep_bad_reservation", "tdm-reservation"),
        ({"tdm-reservation": "1", "tdm-policy": "policy.json"}, "tdmrep_bad_policy", "tdm-policy"),
        ({"tdm-policy": POLICY_JSON}, "tdmrep_policy_without_reservation", None),
        ({"tdm-reservation": "1", "TDM-RESERVATION": "0"}, "tdmrep_conflicting_headers", "tdm-reservation"),
    ],
)
def test_malformed_headers_are_rejected(headers: dict[str, str], code: str, field: str | None) -> None:
    with pytest.raises(IntakeError) as caught:
        tdmrep.parse_headers(headers)
    assert caught.value.code == code
    if field is not None:
        assert caught.value.details["field"] == field


def test_repeated_headers_with_the_same_value_are_accepted() -> None:
    statement = tdmrep.parse_headers({"tdm-reservation": "1", "TDM-Reservation": "1"})
    assert statement is not None and statement.reserved


def test_html_meta_declares_a_reservation_with_a_policy() -> None:
    statement = tdmrep.parse_html_meta(PAGE)
    assert statement is not None
    assert (statement.reservation, statement.policy, statement.declared_by) == (1, POLICY_JSON, DeclaredBy.HTML)
    assert statement.evidence["html_meta"] == {"tdm-reservation": "1", "tdm-policy": POLICY_JSON}


def test_html_without_tdm_meta_declares_nothing() -> None:
    assert tdmrep.parse_html_meta("<html><head><meta name='description' content='x'></head></html>") is None


def test_html_meta_accepts_self_closing_elements_and_entities() -> None:
    html = '<meta name="tdm-reservation" content="1"/><meta name="tdm-policy" content="https://p.example/t?a=1&amp;b=2"/>'
    statement = tdmrep.parse_html_meta(html)
    assert statement is not None and statement.policy == "https://p.example/t?a=1&b=2"


@pytest.mark.parametrize(
    ("html", "code", "details"),
    [
        ('<meta name="tdm-reservation" content="reserved">', "tdmrep_bad_reservation", {"field": "tdm-reservation"}),
        ('<meta name="tdm-reservation">', "tdmrep_bad_reservation", {"line": 1}),
        ('<meta name="tdm-reservation" content="1">\n<meta name="tdm-policy">', "tdmrep_bad_policy", {"line": 2}),
        ('<meta name="tdm-policy" content="https://p.example/">', "tdmrep_policy_without_reservation", {}),
        ('<meta name="tdm-reservation" content="1">\n<meta name="tdm-reservation" content="0">',
         "tdmrep_conflicting_meta", {"lines": [1, 2]}),
    ],
)
def test_malformed_html_meta_is_rejected(html: str, code: str, details: dict[str, Any]) -> None:
    with pytest.raises(IntakeError) as caught:
        tdmrep.parse_html_meta(html)
    assert caught.value.code == code
    for key, value in details.items():
        assert caught.value.details[key] == value


# --- Precedence ---------------------------------------------------------------------------------------------------


def test_headers_override_the_file(document: tdmrep.TdmRepDocument) -> None:
    url = f"{ORIGIN}/press/2026/release.html"  # the file says 0 here
    statement = tdmrep.resolve(url, document=document, headers={"tdm-reservation": "1"})
    assert statement is not None
    assert (statement.reserved, statement.declared_by) == (True, DeclaredBy.HEADERS)
    assert statement.evidence["overridden"] == [
        {"declared_by": "tdmrep.json", "rule_index": 0, "rule": {"location": "/press/", "tdm-reservation": 0}}
    ]


def test_html_meta_overrides_headers_and_the_file(document: tdmrep.TdmRepDocument) -> None:
    url = f"{ORIGIN}/catalogue/cue-14.html"
    html = '<meta name="tdm-reservation" content="0">'
    statement = tdmrep.resolve(url, document=document, headers={"tdm-reservation": "1"}, html=html)
    assert statement is not None
    assert (statement.reserved, statement.declared_by) == (False, DeclaredBy.HTML)
    assert [o["declared_by"] for o in statement.evidence["overridden"]] == ["http-headers", "tdmrep.json"]


def test_a_higher_priority_statement_replaces_the_lower_ones_policy_too(document: tdmrep.TdmRepDocument) -> None:
    statement = tdmrep.resolve(f"{ORIGIN}/catalogue/x", document=document, headers={"tdm-reservation": "1"})
    assert statement is not None and statement.policy == ""


def test_headers_without_tdm_fields_leave_the_file_in_force(document: tdmrep.TdmRepDocument) -> None:
    statement = tdmrep.resolve(f"{ORIGIN}/scores/a.pdf", document=document, headers={"Server": "nginx"}, html="<p/>")
    assert statement is not None and statement.declared_by is DeclaredBy.FILE


def test_nothing_declared_anywhere_resolves_to_none() -> None:
    assert tdmrep.resolve(f"{ORIGIN}/x", headers={}, html="<html></html>") is None


# --- Reservations -------------------------------------------------------------------------------------------------


def test_reserved_urls_become_data_mining_reservations_with_the_deciding_rule(document: tdmrep.TdmRepDocument) -> None:
    urls = [
        f"{ORIGIN}/press/2026/release.html",
        f"{ORIGIN}/catalogue/previews/cue-14.mp3",
        f"{ORIGIN}/open-archive/public-domain/satie.mid",
        f"{ORIGIN}/about",
    ]
    found = tdmrep.reservations(ORIGIN, urls, document=document)
    assert [r.subject for r in found] == [
        Subject(SubjectKind.IDENTIFIER, f"url:{ORIGIN}/catalogue/previews/cue-14.mp3"),
        Subject(SubjectKind.IDENTIFIER, f"url:{ORIGIN}/about"),
    ]
    preview, about = found
    assert preview.uses == frozenset({ReservedUse.DATA_MINING})
    assert preview.source is Source.TDMREP
    assert preview.policy_url == POLICY_JSON
    assert preview.evidence == {
        "origin": ORIGIN,
        "url": f"{ORIGIN}/catalogue/previews/cue-14.mp3",
        "declared_by": "tdmrep.json",
        "rule_index": 1,
        "rule": {"location": "/catalogue/previews/*.mp3$", "tdm-reservation": 1, "tdm-policy": POLICY_JSON},
    }
    assert about.policy_url == POLICY_HTML
    json.dumps([r.evidence for r in found])


def test_reservations_use_headers_and_html_per_url(document: tdmrep.TdmRepDocument) -> None:
    press = f"{ORIGIN}/press/kit.html"
    page = f"{ORIGIN}/press/nachtfahrt.html"
    found = tdmrep.reservations(
        ORIGIN,
        [press, page],
        document=document,
        headers_by_url={press: {"tdm-reservation": "1"}},
        html_by_url={page: PAGE},
    )
    assert [(r.subject.value, r.evidence["declared_by"], r.policy_url) for r in found] == [
        (f"url:{press}", "http-headers", ""),
        (f"url:{page}", "html-meta", POLICY_JSON),
    ]
    assert found[1].evidence["html_meta"]["tdm-reservation"] == "1"


def test_reservations_without_any_input_are_empty() -> None:
    assert tdmrep.reservations(ORIGIN, [f"{ORIGIN}/a", f"{ORIGIN}/b"]) == []


@pytest.mark.parametrize(
    ("origin", "url", "code"),
    [
        (ORIGIN, "https://cdn.nordlicht-musikverlag.example/a.mp3", "tdmrep_wrong_origin"),
        (ORIGIN, "http://www.nordlicht-musikverlag.example/a.mp3", "tdmrep_wrong_origin"),
        (ORIGIN, "/catalogue/a.mp3", "tdmrep_bad_url"),
        (ORIGIN, "https://www.nordlicht-musikverlag.example:abc/", "tdmrep_bad_url"),
        ("nordlicht-musikverlag.example", f"{ORIGIN}/a", "tdmrep_bad_origin"),
    ],
)
def test_reservations_refuse_urls_outside_the_origin(
    document: tdmrep.TdmRepDocument, origin: str, url: str, code: str
) -> None:
    with pytest.raises(IntakeError) as caught:
        tdmrep.reservations(origin, [url], document=document)
    assert caught.value.code == code


def test_the_same_origin_matches_regardless_of_host_case_and_default_port(document: tdmrep.TdmRepDocument) -> None:
    found = tdmrep.reservations(ORIGIN + "/", ["https://WWW.NORDLICHT-MUSIKVERLAG.EXAMPLE:443/scores/x.pdf"],
                                document=document)
    assert len(found) == 1
