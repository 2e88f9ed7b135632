"""Classifying rights statements: each family found in the music21 corpus, precedence, life+70, templates."""

from __future__ import annotations

import json

import pytest

from licensing.inband import RightsStatement
from licensing.reference_corpus import music21_corpus_root
from licensing.rights_statements import (
    COMPOSER_DEATH_YEARS,
    RightsFinding,
    RightsStatus,
    SourceCollection,
    canonical_composer,
    classify,
    composer_death_year,
    is_anonymous,
    read_statement,
)
from licensing.terms import Use, normalize_name

AS_OF = 2025
ALL = frozenset(Use)
NON_COMMERCIAL = ALL - {Use.COMMERCIAL_OUTPUT}
CORPUS = music21_corpus_root()
ROOT_LICENCE = RightsStatement("license_file:license.txt", (CORPUS / "license.txt").read_text())
ESSEN_LICENCE = RightsStatement("license_file:essenFolksong/license.txt",
                                (CORPUS / "essenFolksong/license.txt").read_text())

PALESTRINA = (
    RightsStatement("humdrum:YEC", "Copyright 2000, John Miller"),
    RightsStatement("humdrum:YEM", "Rights to all derivative electronic formats reserved.\n"
                                   "Refer to licensing agreement for further details.\n"
                                   "This file must be accompanied by the licensing agreement.\n"
                                   "A copy of the licensing agreement may be found at "
                                   "http://www.music-cog.ohio-state.edu/HumdrumDatabases/Palestrina/license.txt"),
)
JOSQUIN_GPL = RightsStatement("abc:comment", """% Copyright (C) 1999  Laura E. Conrad lconrad@world.std.com
% 233 Broadway, Cambridge, MA 02139, USA
%
%    This information is free; you can redistribute it and/or modify it
%    under the terms of the GNU General Public License as published by
%    the Free Software Foundation; either version 2 of the License, or
%    (at your option) any later version.

%    This work is distributed in the hope that it will be useful,
%    but WITHOUT ANY WARRANTY; without even the implied warranty of
%    MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
%    GNU General Public License for more details.""")


def rights(text: str, source: str = "musicxml:rights") -> RightsStatement:
    return RightsStatement(source, text)


def classify_file(*statements: RightsStatement, death: int | None, as_of: int = AS_OF,
                  collection: SourceCollection | None = None) -> RightsFinding:
    """A corpus file: its own statements plus the corpus root licence, as the survey passes them."""
    return classify([*statements, ROOT_LICENCE], composer_death_year=death, as_of_year=as_of,
                    collection=collection)


# --- each statement family of the corpus --------------------------------------------------------------------


def test_palestrina_electronic_rights_reserved_under_an_agreement_we_do_not_hold() -> None:
    finding = classify_file(*PALESTRINA, death=1594)
    assert finding.status == RightsStatus.RESERVED
    assert finding.uses == frozenset()
    assert (finding.holder, finding.year) == ("John Miller", 2000)
    assert any("licensing agreement we do not hold" in reason for reason in finding.reasons)
    assert any("public domain since 1665" in reason for reason in finding.reasons)
    assert finding.statements == PALESTRINA


def test_ccarh_bach_chorale_encoding_is_reserved_although_bach_is_public_domain() -> None:
    finding = classify_file(
        rights("Copyright 1994, Center for Computer Assisted Research in the Humanities", "humdrum:YEC"),
        rights("Rights to all derivative electronic formats reserved.\nRefer to licensing agreement for further "
               "details.", "humdrum:YEM"),
        death=1750,
    )
    assert finding.status == RightsStatus.RESERVED
    assert finding.holder == "Center for Computer Assisted Research in the Humanities"


def test_josquin_gpl_notice_is_an_open_copyleft_licence_with_attribution() -> None:
    finding = classify_file(JOSQUIN_GPL, death=1521)
    assert finding.status == RightsStatus.OPEN_LICENSE
    assert finding.license_name == "GPL-2.0-or-later"
    assert finding.uses == ALL
    assert finding.attribution_required is True
    assert finding.conditions == ("copyleft",)
    assert (finding.holder, finding.year) == ("Laura E. Conrad", 1999)


def test_cuthbert_cc_by_sa_3_encoding_of_ciconia_is_share_alike() -> None:
    finding = classify_file(rights("2010 Michael Scott Cuthbert -- freely distributed under a CC-BY-SA 3.0 license"),
                            death=1412)
    assert finding.status == RightsStatus.OPEN_LICENSE
    assert finding.license_name == "CC-BY-SA-3.0"
    assert finding.conditions == ("share_alike",)
    assert finding.attribution_required
    assert (finding.holder, finding.year) == ("Michael Scott Cuthbert", 2010)


def test_corelli_unversioned_cc_by_keeps_no_version_and_names_no_holder() -> None:
    finding = classify_file(rights("© 2014, Creative Commons License (CC-BY)"), death=1713)
    assert finding.status == RightsStatus.OPEN_LICENSE
    assert finding.license_name == "CC-BY"
    assert finding.uses == ALL and finding.conditions == ()
    assert (finding.holder, finding.year) == (None, 2014)
    assert any("no version stated" in reason for reason in finding.reasons)


def test_imslp_cc_by_sa_4_typesetting_credit_of_clara_schumann() -> None:
    finding = classify_file(rights("Typeset by Cypressdome for IMSLP and\nreleased under the CC BY-SA 4.0 license.",
                                   "musicxml:credit"), death=1896)
    assert (finding.status, finding.license_name, finding.holder) == (RightsStatus.OPEN_LICENSE, "CC-BY-SA-4.0",
                                                                      "Cypressdome")


def test_beach_original_out_of_copyright_with_cc_by_sa_engraving() -> None:
    finding = classify_file(rights("Original out of Copyright (1915, G. Schirmer).  \nEngraving Copyright 2017 "
                                   "Michael Scott Cuthbert, most uses allowed for free (CC-SA-BY)."), death=1944)
    assert finding.status == RightsStatus.OPEN_LICENSE
    assert finding.license_name == "CC-BY-SA"
    assert (finding.holder, finding.year) == ("Michael Scott Cuthbert", 2017)
    assert read_statement(finding.statements[0]).composition_public_domain


@pytest.mark.parametrize("text", [
    "Copyright 2022 Michael Scott Asato Cuthbert: released as CC0/Public Domain",
    "Public Domain (Encoding by MSAC: CC0)",
    "Copyright 1884 by LILIUOKALANI (Now, Public Domain; Encoding by MSAC, CC0)",
])
def test_cc0_encodings_are_public_domain_with_every_use_and_no_holder(text: str) -> None:
    finding = classify_file(rights(text), death=1561)
    assert finding.status == RightsStatus.PUBLIC_DOMAIN
    assert finding.license_name == "CC0-1.0"
    assert finding.uses == ALL
    assert finding.attribution_required is False
    assert finding.holder is None


def test_weber_encoding_released_to_the_public_domain() -> None:
    finding = classify_file(
        rights("Released to Public Domain in 1998"),
        rights("Copyright © 1998 by Oliver Seely\nand assigned to the public domain.", "musicxml:credit"),
        death=1826,
    )
    assert finding.status == RightsStatus.PUBLIC_DOMAIN
    assert finding.uses == ALL
    assert [read_statement(s).family for s in finding.statements] == ["dedication", "dedication"]


def test_foster_bare_public_domain_statement_covers_composition_and_encoding() -> None:
    finding = classify_file(rights("Public Domain"), death=1864)
    assert finding.status == RightsStatus.PUBLIC_DOMAIN
    assert finding.license_name is None


def test_berlin_all_rights_reserved_lead_sheet_is_reserved() -> None:
    finding = classify_file(rights("All Rights Reserved"), death=1989)
    assert finding.status == RightsStatus.RESERVED
    assert finding.uses == frozenset()
    assert any("protected until the end of 2059" in reason for reason in finding.reasons)


def test_ut_orpheus_ocr_notice_names_the_publisher_and_reserves_its_edition() -> None:
    finding = classify_file(rights("UTORPHEUS EDIZIONI 2(KJ3 EDIZIONI 2003 UT ORPHEUS EDIZIONI 2003 © UT ORPHEUS 2003"),
                            death=1643)
    assert finding.status == RightsStatus.RESERVED
    assert (finding.holder, finding.year) == ("Ut Orpheus Edizioni", 2003)
    assert any("states no terms" in reason for reason in finding.reasons)


@pytest.mark.parametrize("text", [
    "PDF © 2004 Margaret Greentree\nused by permission",
    "PDF © 2004 Margaret Greentree - used by permission",
    "PDF ©2004 Margaret Greentree\nwww.jsbchorales.net",
])
def test_greentree_chorale_notice_is_reserved_since_permission_given_to_music21_is_not_ours(text: str) -> None:
    finding = classify_file(rights(text, "musicxml:credit"), death=1750)
    assert finding.status == RightsStatus.RESERVED
    assert (finding.holder, finding.year) == ("Margaret Greentree", 2004)


def test_essen_directory_licence_is_non_commercial_permission_over_the_corpus_root() -> None:
    finding = classify([ESSEN_LICENCE, ROOT_LICENCE], composer_death_year=None, as_of_year=AS_OF,
                       collection=SourceCollection("The Essen Folksong Collection", None))
    assert finding.status == RightsStatus.PERMISSION
    assert finding.uses == NON_COMMERCIAL
    assert finding.conditions == ("non_commercial",)
    assert finding.holder == "Prof. AMU Dr. Habil. Ewa Dahlig-Turek"
    assert finding.statements == (ESSEN_LICENCE,)
    assert any("take precedence over license_file:license.txt" in reason for reason in finding.reasons)
    assert any("legal status of the Essen folksong database is unclear" in reason for reason in finding.reasons)


def test_corpus_root_licence_alone_gives_non_commercial_permission_and_says_why() -> None:
    finding = classify_file(death=1827)
    assert finding.status == RightsStatus.PERMISSION
    assert finding.uses == NON_COMMERCIAL
    assert finding.license_name is None
    assert any("may not be used for commercial uses" in reason for reason in finding.reasons)


def test_corpus_root_hedged_out_of_copyright_sentence_does_not_clear_a_composition() -> None:
    reading = read_statement(ROOT_LICENCE)
    assert reading.family == "corpus_permission"
    assert reading.composition_public_domain is False
    assert reading.holder is None


def test_webern_territorial_public_domain_is_read_from_the_file() -> None:
    statement = rights("P.D. (Canada, EU), US from 2023; The edition CC-BY-SA Michael Scott Cuthbert")
    after = classify_file(statement, death=1945, as_of=2023)
    assert (after.status, after.license_name, after.holder) == (RightsStatus.OPEN_LICENSE, "CC-BY-SA",
                                                               "Michael Scott Cuthbert")
    before = classify_file(statement, death=1945, as_of=2022)  # life+70 alone would clear it from 2016
    assert before.status == RightsStatus.RESERVED
    assert "composition_not_cleared" in before.conditions
    assert any("in the US only from 2023" in reason for reason in before.reasons)


# --- empty and template notices -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["Copyright © ", "©", "", "\n\t\t", "(c)", "Copyright"])
def test_empty_or_template_notice_says_nothing_so_the_corpus_licence_applies(text: str) -> None:
    finding = classify_file(rights(text), death=1828)
    assert finding.status == RightsStatus.PERMISSION
    assert finding.statements == (ROOT_LICENCE,)
    assert any(reason.startswith("Ignored musicxml:rights") for reason in finding.reasons)


def test_template_notice_with_nothing_else_is_unstated() -> None:
    finding = classify([rights("Copyright ©")], composer_death_year=1828, as_of_year=AS_OF)
    assert finding.status == RightsStatus.UNSTATED
    assert finding.uses == frozenset()


def test_no_statements_at_all_is_unstated() -> None:
    finding = classify([], composer_death_year=1750, as_of_year=AS_OF)
    assert finding.status == RightsStatus.UNSTATED
    assert finding.statements == ()


def test_a_year_without_a_holder_is_a_dated_claim_not_a_template() -> None:
    finding = classify_file(rights("© 2003"), death=1750)
    assert (finding.status, finding.year) == (RightsStatus.RESERVED, 2003)


# --- precedence ---------------------------------------------------------------------------------------------


def test_file_statement_wins_over_directory_and_root_licences() -> None:
    finding = classify([rights("Copyright 2022 X: released as CC0"), ESSEN_LICENCE, ROOT_LICENCE],
                       composer_death_year=1600, as_of_year=AS_OF)
    assert finding.status == RightsStatus.PUBLIC_DOMAIN
    assert finding.statements == (rights("Copyright 2022 X: released as CC0"),)


def test_file_reservation_wins_over_a_more_permissive_directory_licence() -> None:
    directory = RightsStatement("license_file:scores/LICENSE", "Licensed CC BY 4.0")
    finding = classify([rights("All Rights Reserved"), directory, ROOT_LICENCE],
                       composer_death_year=1600, as_of_year=AS_OF)
    assert finding.status == RightsStatus.RESERVED


def test_directory_licence_wins_over_the_corpus_root() -> None:
    directory = RightsStatement("license_file:scores/LICENSE", "Licensed under CC BY 4.0")
    finding = classify([directory, ROOT_LICENCE], composer_death_year=1600, as_of_year=AS_OF)
    assert (finding.status, finding.license_name) == (RightsStatus.OPEN_LICENSE, "CC-BY-4.0")


def test_within_a_level_any_reservation_wins_over_a_grant() -> None:
    finding = classify_file(rights("Public Domain"), rights("All rights reserved.", "musicxml:credit"), death=1750)
    assert finding.status == RightsStatus.RESERVED
    assert any("most restrictive statement wins" in reason for reason in finding.reasons)


def test_within_a_level_grants_combine_to_what_all_allow() -> None:
    finding = classify_file(rights("CC0"), rights("Licensed CC BY-NC 4.0", "musicxml:credit"), death=1750)
    assert finding.status == RightsStatus.OPEN_LICENSE
    assert finding.uses == NON_COMMERCIAL
    assert finding.conditions == ("non_commercial",)
    assert finding.license_name == "CC0-1.0 AND CC-BY-NC-4.0"


def test_a_bare_notice_beside_a_licence_names_its_holder_instead_of_cancelling_it() -> None:
    finding = classify_file(rights("© 2023 Example Editions"), rights("CC BY 4.0", "musicxml:credit"), death=1750)
    assert (finding.status, finding.holder, finding.year) == (RightsStatus.OPEN_LICENSE, "Example Editions", 2023)


def test_some_rights_reserved_is_not_a_reservation() -> None:
    finding = classify_file(rights("Some rights reserved. Licensed under CC BY-SA 4.0"), death=1750)
    assert (finding.status, finding.license_name) == (RightsStatus.OPEN_LICENSE, "CC-BY-SA-4.0")


def test_non_commercial_and_no_derivatives_licences_remove_uses() -> None:
    finding = classify_file(rights("https://creativecommons.org/licenses/by-nc-nd/4.0/"), death=1750)
    assert finding.license_name == "CC-BY-NC-ND-4.0"
    assert finding.uses == frozenset({Use.STYLE_REFERENCE, Use.NON_COMMERCIAL_OUTPUT})
    assert finding.conditions == ("non_commercial", "no_derivatives")


def test_unrecognised_rights_text_is_reserved_until_reviewed() -> None:
    finding = classify_file(rights("Sequenced for fun by Bob", "midi:copyright"), death=1750)
    assert finding.status == RightsStatus.RESERVED
    assert any("until reviewed" in reason for reason in finding.reasons)


# --- composition: life+70, unknown authors, traditional collections -----------------------------------------


def test_schoenberg_becomes_public_domain_in_2022_under_life_plus_70() -> None:
    assert classify_file(death=1951, as_of=2021).status == RightsStatus.RESERVED
    assert classify_file(death=1951, as_of=2022).status == RightsStatus.PERMISSION


def test_free_encoding_of_a_protected_composition_does_not_clear_it() -> None:
    finding = classify_file(rights("Encoding released as CC0"), death=1989)
    assert finding.status == RightsStatus.RESERVED
    assert finding.license_name == "CC0-1.0"
    assert finding.uses == frozenset()
    assert finding.conditions == ("composition_not_cleared",)
    assert any("covers only the encoding" in reason for reason in finding.reasons)


def test_unknown_composer_without_a_collection_is_not_cleared() -> None:
    finding = classify_file(rights("CC BY 4.0"), death=None)
    assert finding.status == RightsStatus.RESERVED
    assert "composition_not_cleared" in finding.conditions


def test_a_statement_that_the_composition_is_public_domain_clears_a_recent_composer() -> None:
    finding = classify_file(rights("Public Domain (Encoding by MSAC: CC0)"), death=1954, as_of=2024)
    assert finding.status == RightsStatus.PUBLIC_DOMAIN
    assert any("the statement is relied on" in reason for reason in finding.reasons)


def test_traditional_collection_clears_ninety_five_years_after_publication() -> None:
    ryan = SourceCollection("Ryan's Mammoth Collection (Boston, 1883)", 1883)
    assert classify_file(death=None, collection=ryan, as_of=1977).status == RightsStatus.RESERVED
    finding = classify_file(death=None, collection=ryan, as_of=1978)
    assert finding.status == RightsStatus.PERMISSION
    assert any("§302(e)" in reason for reason in finding.reasons)


def test_tunes_from_oral_tradition_have_no_author_to_clear() -> None:
    finding = classify_file(death=None, collection=SourceCollection("A folk song database", None), as_of=AS_OF)
    assert finding.status == RightsStatus.PERMISSION
    assert any("oral tradition" in reason for reason in finding.reasons)


def test_known_and_unknown_authors_must_both_be_cleared() -> None:
    book = SourceCollection("A 1950 songbook", 1950)
    assert classify_file(death=1750, collection=book).status == RightsStatus.RESERVED
    assert classify_file(death=1750, collection=book, as_of=2045).status == RightsStatus.PERMISSION


# --- composer names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("credited", "year"), [
    ("Palestrina, Giovanni Perluigi da", 1594),
    ("Bach, Johann Sebastian", 1750),
    ("J.S. Bach", 1750),
    ("L. van BEETHOVEN", 1827),
    ("W. A. Mozart K. 156", 1791),
    ("W.AMozart. ", 1791),
    ("Josquin des Prez, 1545", 1521),
    ("Josquin des Prez \\footnotemark", 1521),
    ("Josquin de Pré", 1521),
    ("Johannes Ciconia (opus dubium)", 1412),
    ("Mrs. H.H.A. Beach (Amy Beach)\nOp. 75, No. 4 ", 1944),
    ("Philippe de Vitry\n(1291 - 1361)", 1361),
    ("Gherardello F-Pn 568", 1363),
    ("H.R.H.Liliuokalani", 1917),
    ("Stephen Foster 1854", 1864),
    ("J. Rosamond Johnson", 1954),
    ("Irving Berlin", 1989),
    ("O'Carolan", 1738),
    ("FRANK LIVINGSTON.", None),
    ("Music21", None),
])
def test_composer_death_years_match_names_as_credited_in_the_corpus(credited: str, year: int | None) -> None:
    assert composer_death_year(credited) == year


def test_death_year_table_is_keyed_by_normalized_names() -> None:
    assert all(key == normalize_name(key) for key in COMPOSER_DEATH_YEARS)
    assert canonical_composer("L van Beethoven") == "Ludwig van Beethoven"


@pytest.mark.parametrize(("credited", "anonymous"), [
    ("Anonymous I-Rvat 1419", True), ("Anonyous I-Rvat 657", True), ("anonymous Venice Fava 4", True),
    ("Trad.", True), ("Johannes Ciconia", False),
])
def test_anonymous_credits_are_recognised(credited: str, anonymous: bool) -> None:
    assert is_anonymous(credited) is anonymous


def test_findings_serialise_to_json() -> None:
    finding = classify_file(JOSQUIN_GPL, death=1521)
    data = json.loads(json.dumps(finding.to_dict()))
    assert data["status"] == "open_license"
    assert data["uses"] == [use.value for use in Use]
    assert data["statements"][0]["source"] == "abc:comment"
