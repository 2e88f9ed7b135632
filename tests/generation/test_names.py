"""Screening scene descriptions for catalog names: exact, surname and fuzzy hits, offsets, and large catalogs."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz

from generation.names import (
    DEFAULT_FUZZY_THRESHOLD,
    Name,
    NameIndex,
    NameMatch,
    NameScreenError,
    _name_tokens,
    _tokenize,
)
from licensing.terms import normalize_name

BACH = Name("Johann Sebastian Bach", None, "creator")
HILDEGARD = Name("Hildegard von Bingen", None, "creator")
DVORAK_CREATOR = Name("Antonín Dvořák", None, "creator")
DVORAK_PARTY = Name("Antonín Dvořák", 7, "party")
MONTEVERDI = Name("Claudio Monteverdi", None, "creator")
CLARA = Name("Clara Schumann", None, "creator")
ROBERT = Name("Robert Schumann", 12, "party")
BEETHOVEN = Name("Ludwig van Beethoven", None, "creator")
CAROLE_KING = Name("Carole King", None, "creator")
AL_GREEN = Name("Al Green", None, "creator")
PALESTRINA = Name("Palestrina", None, "creator")
ANONYMOUS = Name("Anonymous", None, "creator")
TRADITIONAL = Name("Traditional", None, "creator")

CATALOG = [BACH, HILDEGARD, DVORAK_CREATOR, DVORAK_PARTY, MONTEVERDI, CLARA, ROBERT, BEETHOVEN, CAROLE_KING,
           AL_GREEN, PALESTRINA, ANONYMOUS, TRADITIONAL]


@pytest.fixture(scope="module")
def index() -> NameIndex:
    return NameIndex(CATALOG)


def found(index: NameIndex, description: str) -> dict[Name, NameMatch]:
    """Matches by name, checking on the way that every span is the verbatim text at its offsets."""
    matches = index.screen(description)
    for match in matches:
        assert description[match.start:match.end] == match.text
    by_name = {match.name: match for match in matches}
    assert len(by_name) == len(matches), "one match per distinct name"
    return by_name


def naive_fuzzy(names: list[Name], description: str, threshold: float) -> set[Name]:
    """Reference: every token window of 1..n+1 words against every multi-token name, no blocking."""
    tokens = _tokenize(description)
    hits: set[Name] = set()
    for name in names:
        name_tokens = _name_tokens(name.name)
        if len(name_tokens) < 2:
            continue
        for width in range(1, len(name_tokens) + 2):
            for first in range(len(tokens) - width + 1):
                window = tokens[first:first + width]
                if not (description[window[0].start].isupper() and description[window[-1].start].isupper()):
                    continue
                text = " ".join(token.norm for token in window)
                if fuzz.ratio(text, " ".join(name_tokens)) >= threshold:
                    hits.add(name)
    return hits


# Exact -------------------------------------------------------------------------------------------------


def test_a_full_name_is_found_exactly_with_offsets_into_the_original(index: NameIndex) -> None:
    description = "A tense chase at night, in the style of Johann Sebastian Bach, reveal at 0:42"
    match = found(index, description)[BACH]
    assert (match.method, match.score, match.text) == ("exact", 100.0, "Johann Sebastian Bach")
    assert (match.start, match.end) == (40, 61)


def test_an_exact_full_name_ignores_case_and_accents(index: NameIndex) -> None:
    matches = found(index, "strings like antonin dvorak, then CLAUDIO MONTEVERDI")
    assert matches[DVORAK_CREATOR].method == "exact"
    assert matches[DVORAK_CREATOR].text == "antonin dvorak"
    assert matches[MONTEVERDI].method == "exact"


def test_a_name_catalogued_last_name_first_matches_the_name_as_written() -> None:
    name = Name("Monteverdi, Claudio", None, "creator")
    match = found(NameIndex([name]), "A madrigal in the manner of Claudio Monteverdi.")[name]
    assert (match.method, match.text) == ("exact", "Claudio Monteverdi")


def test_a_full_name_keeps_its_particle(index: NameIndex) -> None:
    match = found(index, "Chant like Hildegard von Bingen over a drone")[HILDEGARD]
    assert (match.method, match.text) == ("exact", "Hildegard von Bingen")


def test_a_word_that_starts_with_a_name_is_not_that_name(index: NameIndex) -> None:
    assert index.screen("Bachelor party montage, a bachelor's last night") == []


# Surname -----------------------------------------------------------------------------------------------


def test_a_capitalized_surname_alone_is_found(index: NameIndex) -> None:
    match = found(index, "Something Bach would write for a chase")[BACH]
    assert (match.method, match.score, match.text) == ("surname", 100.0, "Bach")


def test_a_possessive_surname_matches_and_the_span_stops_before_the_apostrophe(index: NameIndex) -> None:
    description = "Dvořák's New World feel for the landing"
    matches = found(index, description)
    assert matches[DVORAK_CREATOR].text == "Dvořák"
    assert (matches[DVORAK_CREATOR].start, matches[DVORAK_CREATOR].end) == (0, 6)
    assert found(index, "Dvořák\u2019s largo")[DVORAK_CREATOR].text == "Dvořák"


def test_an_unaccented_surname_matches_the_accented_name(index: NameIndex) -> None:
    match = found(index, "a Dvorak-style largo")[DVORAK_CREATOR]
    assert (match.method, match.text) == ("surname", "Dvorak")


def test_a_shared_surname_hits_every_name_that_carries_it(index: NameIndex) -> None:
    matches = found(index, "A Schumann song without words")
    assert {CLARA, ROBERT} <= set(matches)
    assert matches[CLARA].method == matches[ROBERT].method == "surname"


def test_a_lowercase_surname_is_not_a_hit(index: NameIndex) -> None:
    assert index.screen("a bach-like fugue, then a dvorak-ish horn line") == []


def test_a_particle_is_never_a_surname(index: NameIndex) -> None:
    assert index.screen("Von the start, Van doors slam") == []
    match = found(index, "Beethoven at his stormiest")[BEETHOVEN]
    assert (match.method, match.text) == ("surname", "Beethoven")


def test_a_surname_that_is_an_everyday_word_only_matches_with_the_full_name(index: NameIndex) -> None:
    # "King" is in the stop list: neither the lowercase word nor a title-case cue title names Carole King.
    assert index.screen("the king arrives") == []
    assert index.screen("The King Arrives") == []
    assert found(index, "like Carole King at the piano")[CAROLE_KING].method == "exact"


def test_a_love_theme_names_nobody() -> None:
    index = NameIndex([Name("Courtney Love", None, "creator"), Name("Love", None, "creator")])
    assert index.screen("a love theme") == []
    assert index.screen("Love Theme, Main Title") == []


# Placeholders and one-word names -----------------------------------------------------------------------


def test_placeholder_names_never_match() -> None:
    placeholders = [ANONYMOUS, TRADITIONAL, Name("Unknown", None, "creator"), Name("Public Domain", 3, "party"),
                    Name("Various Artists", None, "creator"), Name("Trad.", None, "creator")]
    index = NameIndex(placeholders)
    assert len(index) == 0
    assert index.screen("Anonymous Traditional reel, Unknown origin, Public Domain, Various Artists, Trad.") == []


def test_a_one_word_name_matches_only_as_a_capitalized_whole_word(index: NameIndex) -> None:
    match = found(index, "A motet after Palestrina")[PALESTRINA]
    assert (match.method, match.text) == ("exact", "Palestrina")
    assert PALESTRINA not in found(index, "a palestrina-like motet")


# Fuzzy -------------------------------------------------------------------------------------------------


def test_a_misspelled_full_name_is_found_fuzzily(index: NameIndex) -> None:
    match = found(index, "In the style of Johan Sebastien Bach, reveal at 0:42")[BACH]
    assert match.method == "fuzzy"
    assert match.text == "Johan Sebastien Bach"  # the whole mention, not just the surname inside it
    assert DEFAULT_FUZZY_THRESHOLD <= match.score < 100.0


def test_of_for_von_is_found_fuzzily(index: NameIndex) -> None:
    match = found(index, "Hildegard of Bingen chant under the titles")[HILDEGARD]
    assert (match.method, match.text) == ("fuzzy", "Hildegard of Bingen")


def test_a_misspelled_given_name_and_surname_are_found_fuzzily(index: NameIndex) -> None:
    matches = found(index, "A lullaby, Klara Schuman, very soft")
    assert (matches[CLARA].method, matches[CLARA].text) == ("fuzzy", "Klara Schuman")
    assert ROBERT not in matches


def test_a_near_miss_that_is_not_written_like_a_name_is_not_a_fuzzy_hit(index: NameIndex) -> None:
    # "all green" is one letter from "Al Green", "William arrives" close to "William Harris": a near miss
    # whose first and last words are not both capitalized is ordinary words, not a name.
    assert index.screen("all green lights as the convoy leaves") == []
    william = Name("William Harris", None, "creator")
    assert NameIndex([william]).screen("the letter from William arrives") == []
    assert found(NameIndex([william]), "the letter from William Haris")[william].method == "fuzzy"
    assert found(index, "soul horns, Al Gren style")[AL_GREEN].method == "fuzzy"


def test_a_higher_threshold_leaves_only_the_surname_hit() -> None:
    match = found(NameIndex([BACH], fuzzy_threshold=99.0), "Johan Sebastien Bach")[BACH]
    assert (match.method, match.text) == ("surname", "Bach")


def test_blocking_finds_what_comparing_every_window_with_every_name_finds(index: NameIndex) -> None:
    descriptions = [
        "Johan Sebastien Bach", "Antonin Dvorjak", "Claudio Monteverdy", "Hildegard of Bingen", "Klara Schuman",
        "Robret Schumann", "Ludwig von Beethoven", "Carol King", "Al Gren", "ClaraSchumann", "Claudio Monte Verdi",
        "A chase at night under a sky of Dvořák and rain", "Bachelor party", "all green",
    ]
    found_by_reference = 0
    for description in descriptions:
        matches = index.screen(description)
        reference = naive_fuzzy(CATALOG, description, DEFAULT_FUZZY_THRESHOLD)
        # Every name the exhaustive comparison finds is found (by some method; a better one may win) ...
        assert reference <= {match.name for match in matches}, description
        # ... and nothing is reported fuzzily that the exhaustive comparison would not report.
        assert {match.name for match in matches if match.method == "fuzzy"} <= reference, description
        found_by_reference += bool(reference)
    assert found_by_reference >= 10


# Parties, ranking, order -------------------------------------------------------------------------------


def test_a_party_and_a_creator_for_the_same_person_both_match(index: NameIndex) -> None:
    matches = found(index, "Largo from the New World, Antonín Dvořák")
    assert matches[DVORAK_PARTY].method == matches[DVORAK_CREATOR].method == "exact"
    assert matches[DVORAK_PARTY].name.party_id == 7


def test_a_name_matched_several_ways_is_reported_once_by_its_best_hit(index: NameIndex) -> None:
    description = "Bach first, then Johan Sebastien Bach, finally Johann Sebastian Bach"
    match = found(index, description)[BACH]
    assert (match.method, match.start) == ("exact", description.rindex("Johann"))
    # A fuzzy hit elsewhere ("Bahc" is no surname hit) ranks below the surname hit: exact > surname > fuzzy.
    surname_first = found(index, "Bach first, then Johann Sebastian Bahc")[BACH]
    assert (surname_first.method, surname_first.start) == ("surname", 0)
    assert found(index, "Johann Sebastian Bahc")[BACH].method == "fuzzy"


def test_matches_are_sorted_by_position_and_screening_is_deterministic(index: NameIndex) -> None:
    description = "Monteverdi, then Clara Schumann, then Antonín Dvořák and Bach"
    matches = index.screen(description)
    assert [match.start for match in matches] == sorted(match.start for match in matches)
    assert [match.name for match in matches][:2] == [MONTEVERDI, CLARA]
    assert NameIndex(reversed(CATALOG)).screen(description) == matches
    assert index.screen(description) == matches


def test_offsets_survive_decomposed_accents_and_letters_that_fold_to_two(index: NameIndex) -> None:
    decomposed = unicodedata.normalize("NFD", "Antonín Dvořák")
    description = f"Straße at dawn \u2014 ﬁnal reel, {decomposed}\u2019s serenade"
    match = found(index, description)[DVORAK_CREATOR]
    assert match.method == "exact"
    assert match.text == decomposed
    assert description[match.end:].startswith("\u2019s serenade")


def test_equal_names_are_one_name_and_len_counts_screenable_names() -> None:
    index = NameIndex([BACH, Name("Johann Sebastian Bach", None, "creator"), DVORAK_PARTY, ANONYMOUS])
    assert len(index) == 2
    assert [match.name for match in index.screen("Johann Sebastian Bach")] == [BACH]


# Errors ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.0, -5.0, 100.5])
def test_a_threshold_outside_0_to_100_is_rejected_with_a_stable_code(threshold: float) -> None:
    with pytest.raises(NameScreenError) as caught:
        NameIndex([BACH], fuzzy_threshold=threshold)
    assert caught.value.code == "names_threshold_out_of_range"
    assert caught.value.details == {"fuzzy_threshold": threshold}


def test_an_unknown_kind_is_rejected_with_a_stable_code() -> None:
    with pytest.raises(NameScreenError) as caught:
        NameIndex([BACH, Name("Boosey & Hawkes", 4, "publisher")])
    assert caught.value.code == "names_unknown_kind"
    assert caught.value.details["kinds"] == ["publisher"]


# Normalization agrees with licensing ------------------------------------------------------------------

_NO_APOSTROPHES = st.text().filter(lambda text: not any(ch in text for ch in "',\u2019\u2018\u02bc"))


@given(_NO_APOSTROPHES)
def test_description_tokens_are_normalize_name_of_the_description(text: str) -> None:
    assert " ".join(token.norm for token in _tokenize(text)) == normalize_name(text)


@given(st.text(alphabet=st.characters(max_codepoint=127)).filter(lambda name: "'" not in name))
def test_catalog_names_are_normalized_like_licensing_normalizes_them(name: str) -> None:
    # Plain ASCII names take a fast path; it must give exactly what normalize_name gives.
    assert _name_tokens(name) == tuple(normalize_name(name).split())


def test_a_possessive_is_dropped_from_catalog_names_as_from_descriptions() -> None:
    assert _name_tokens("Bach's Choir") == _name_tokens("Bach\u2019s Choir") == ("bach", "choir")
    assert [token.norm for token in _tokenize("Bach's Choir")] == ["bach", "choir"]
    assert _name_tokens("Sinéad O'Connor") == ("sinead", "o", "connor")  # an inner apostrophe still splits


# Large catalogs ----------------------------------------------------------------------------------------

_SYLLABLES = ["zor", "qua", "vex", "brin", "tal", "mok", "sil", "dre", "kan", "lum", "pex", "rov", "gant", "hul",
              "wim", "stra", "nol", "fey", "jur", "oth"]


def synthetic_names(count: int) -> list[Name]:
    """Distinct made-up names (no English words), half of them parties, deterministic."""
    given_names = ["".join(parts).capitalize() for parts in itertools.product(_SYLLABLES, repeat=2)]
    surnames = ["".join(parts).capitalize() for parts in itertools.product(_SYLLABLES, repeat=3)]
    names = []
    for i in range(count):
        given_name = given_names[i % len(given_names)]
        surname = surnames[(i // len(given_names)) * 32 + i % 32]
        middle = f" {_SYLLABLES[i % 20].capitalize()}" if i % 5 == 0 else ""
        names.append(Name(f"{given_name}{middle} {surname}", i if i % 2 else None, "party" if i % 2 else "creator"))
    return names


def test_a_description_is_screened_against_100k_names_and_finds_the_one_real_name() -> None:
    names = synthetic_names(100_000)
    names.insert(50_000, DVORAK_CREATOR)
    index = NameIndex(names)
    assert len(index) == 100_001
    description = (
        "Night exterior. A slow, grieving lament as the mother waits at the window, rain on the glass, then the "
        "letter arrives and everything breaks open; strings swell under her voice and the camera pulls back over "
        "the empty street, the whole thing in the spirit of Antonin Dvorjak, warm and homesick, ending on a quiet "
        "held chord at 1:12 when she finally sits down."
    )
    assert 55 <= len(description.split()) <= 70
    matches = index.screen(description)
    assert [(match.name, match.method, match.text) for match in matches] == [
        (DVORAK_CREATOR, "fuzzy", "Antonin Dvorjak"),
    ]
    # A synthetic full name is found exactly too, so the big index is really searched.
    target = names[12_345]
    exact = [match.name for match in index.screen(f"in the manner of {target.name}") if match.method == "exact"]
    assert exact == [target]
