"""The reference catalog survey over the whole music21 corpus: coverage, speed, and the rights it establishes.

The expected counts are the survey's findings as of 2025 (music21 10.5.1): they change only when the corpus,
the vocabulary of statements, or a rights decision changes -- and then this file says what changed.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from licensing import reference_corpus
from licensing.reference_corpus import CorpusWork, music21_corpus_root, survey
from licensing.rights_statements import RightsStatus, read_statement
from licensing.terms import Use

AS_OF = 2025
CORPUS = music21_corpus_root()
NON_COMMERCIAL = frozenset(Use) - {Use.COMMERCIAL_OUTPUT}


@pytest.fixture(scope="module")
def surveyed() -> tuple[list[CorpusWork], float]:
    started = time.perf_counter()
    works = list(survey(CORPUS, as_of_year=AS_OF))
    return works, time.perf_counter() - started


@pytest.fixture(scope="module")
def works(surveyed: tuple[list[CorpusWork], float]) -> list[CorpusWork]:
    return surveyed[0]


@pytest.fixture(scope="module")
def by_path(works: list[CorpusWork]) -> dict[str, CorpusWork]:
    return {w.relative_path: w for w in works}


def collection_counts(works: list[CorpusWork], collection: str) -> Counter[tuple[str, str | None]]:
    return Counter((w.finding.status.value, w.finding.license_name) for w in works
                   if w.relative_path.startswith(f"{collection}/"))


def test_the_whole_corpus_is_surveyed_in_under_twenty_seconds(surveyed: tuple[list[CorpusWork], float]) -> None:
    works, seconds = surveyed
    assert len(works) == 3194
    assert seconds < 20, f"survey took {seconds:.1f} s"


def test_works_come_in_sorted_path_order_one_per_file(works: list[CorpusWork]) -> None:
    paths = [w.relative_path for w in works]
    assert paths == sorted(paths)
    assert len(set(paths)) == len(paths)


def test_formats_cover_every_music_file_and_skip_everything_else(works: list[CorpusWork]) -> None:
    assert Counter(w.format for w in works) == {"humdrum": 1326, "abc": 1146, "musicxml": 654, "romantext": 68}
    suffixes = {Path(w.relative_path).suffix for w in works}
    assert suffixes == {".krn", ".abc", ".mxl", ".xml", ".musicxml", ".rntxt"}
    assert not any(w.relative_path.endswith(("license.txt", ".mus", ".musx", ".png", ".psd", ".py"))
                   for w in works)


def test_status_counts_match_the_survey(works: list[CorpusWork]) -> None:
    assert Counter(w.finding.status.value for w in works) == {
        "reserved": 1704, "permission": 1468, "open_license": 17, "public_domain": 5,
    }


def test_every_distinct_statement_family_is_counted_as_surveyed(works: list[CorpusWork]) -> None:
    families: Counter[tuple[str, str, str | None]] = Counter()
    for work in works:
        for statement in work.metadata.statements:
            reading = read_statement(statement)
            families[(statement.source, reading.family, reading.grant.license_name if reading.grant else None)] += 1
    assert families == {
        ("humdrum:YEC", "notice", None): 1321,  # John Miller 2000 (1318 Palestrina), CCARH 1994 (3 Bach)
        ("humdrum:YEM", "reservation", None): 1321,  # "Rights to all derivative electronic formats reserved."
        ("musicxml:credit", "notice", None): 362,  # "PDF © 2004 Margaret Greentree" (Bach chorales)
        ("musicxml:rights", "template", None): 28,  # "Copyright ©" x24, "" and whitespace x3, "©" x1
        ("abc:comment", "gpl", "GPL-2.0-or-later"): 8,  # Laura E. Conrad 1999 (Josquin)
        ("musicxml:rights", "notice", None): 6,  # UT ORPHEUS EDIZIONI 2003 (Monteverdi book 5)
        ("musicxml:credit", "creative_commons", "CC-BY-SA-4.0"): 4,  # Cypressdome for IMSLP (Clara Schumann)
        ("musicxml:rights", "cc0", "CC0-1.0"): 3,  # Lusitano, Johnson, Liliuokalani
        ("musicxml:rights", "creative_commons", "CC-BY-SA"): 2,  # Beach engraving, Webern edition
        ("musicxml:rights", "creative_commons", "CC-BY-SA-3.0"): 2,  # Cuthbert 2010 (Ciconia, Luca)
        ("musicxml:rights", "creative_commons", "CC-BY"): 1,  # Corelli
        ("musicxml:credit", "cc0", "CC0-1.0"): 1,  # Johnson credit
        ("musicxml:rights", "reservation", None): 1,  # "All Rights Reserved" (Berlin)
        ("musicxml:rights", "public_domain", None): 1,  # "Public Domain" (Foster)
        ("musicxml:rights", "dedication", None): 1,  # "Released to Public Domain in 1998" (Weber)
        ("musicxml:credit", "dedication", None): 1,  # "... Oliver Seely and assigned to the public domain."
    }


def test_palestrina_is_reserved_throughout(works: list[CorpusWork]) -> None:
    assert collection_counts(works, "palestrina") == {("reserved", None): 1318}


def test_josquin_is_gpl_throughout(works: list[CorpusWork]) -> None:
    assert collection_counts(works, "josquin") == {("open_license", "GPL-2.0-or-later"): 8}


def test_essen_folksongs_are_non_commercial_permission(works: list[CorpusWork]) -> None:
    essen = [w for w in works if w.relative_path.startswith("essenFolksong/")]
    assert len(essen) == 31
    assert {(w.finding.status, w.finding.uses, w.finding.conditions) for w in essen} == {
        (RightsStatus.PERMISSION, NON_COMMERCIAL, ("non_commercial",))}
    assert all(w.finding.statements[0].source == "license_file:essenFolksong/license.txt" for w in essen)


def test_lead_sheets_are_one_reserved_and_one_public_domain(by_path: dict[str, CorpusWork]) -> None:
    assert by_path["leadSheet/berlinAlexandersRagtime.mxl"].finding.status == RightsStatus.RESERVED
    foster = by_path["leadSheet/fosterBrownHair.mxl"].finding
    assert foster.status == RightsStatus.PUBLIC_DOMAIN and foster.uses == frozenset(Use)


def test_bach_chorales_split_between_reserved_editions_and_the_corpus_permission(works: list[CorpusWork]) -> None:
    assert collection_counts(works, "bach") == {("reserved", None): 365, ("permission", None): 68}
    holders = Counter(w.finding.holder for w in works
                      if w.relative_path.startswith("bach/") and w.finding.status == RightsStatus.RESERVED)
    assert holders == {"Margaret Greentree": 362, "Center for Computer Assisted Research in the Humanities": 3}


def test_other_collections_match_the_survey(works: list[CorpusWork]) -> None:
    assert collection_counts(works, "monteverdi") == {("permission", None): 91, ("reserved", None): 6}
    assert collection_counts(works, "trecento") == {("permission", None): 103}
    assert collection_counts(works, "ryansMammoth") == {("permission", None): 1059}
    assert collection_counts(works, "oneills1850") == {("permission", None): 39}
    assert collection_counts(works, "demos") == {("reserved", None): 12, ("permission", None): 1}
    assert collection_counts(works, "schumann_clara") == {("open_license", "CC-BY-SA-4.0"): 4, ("permission", None): 1}


def test_single_free_works_are_classified_as_their_statements_say(by_path: dict[str, CorpusWork]) -> None:
    expected = {
        "ciconia/quod_jactatur.xml": ("open_license", "CC-BY-SA-3.0"),
        "luca/gloria.xml": ("open_license", "CC-BY-SA-3.0"),
        "corelli/opus3no1/1grave.xml": ("open_license", "CC-BY"),
        "beach/prayer_of_a_tired_child.musicxml": ("open_license", "CC-BY-SA"),
        "webern/webern_dormi_jesu_op_16_no_2.mxl": ("open_license", "CC-BY-SA"),
        "lusitano/allor_che_ignuda.mxl": ("public_domain", "CC0-1.0"),
        "johnson_j_r/lift_every_voice.mxl": ("public_domain", "CC0-1.0"),
        "liliuokalani/aloha_oe.mxl": ("public_domain", "CC0-1.0"),
        "weber/concertino_clarinet.mxl": ("public_domain", None),
        "schoenberg/opus19/movement2.mxl": ("permission", None),
    }
    assert {path: (by_path[path].finding.status.value, by_path[path].finding.license_name) for path in expected} \
        == expected


def test_music21_demo_files_without_a_dated_author_are_not_cleared(by_path: dict[str, CorpusWork]) -> None:
    finding = by_path["demos/two-voices.xml"].finding
    assert finding.status == RightsStatus.RESERVED
    assert "composition_not_cleared" in finding.conditions
    assert by_path["demos/two-parts.xml"].finding.status == RightsStatus.PERMISSION  # C. P. E. Bach


def test_style_tags_name_composer_period_genre_and_collection(by_path: dict[str, CorpusWork]) -> None:
    assert by_path["palestrina/Agnus_01.krn"].style_tags == {
        "composer": ["giovanni pierluigi da palestrina"], "period": ["renaissance"], "genre": ["Mass (Paraphrase)"],
        "origin": ["Italia"], "style": ["renaissance, vocal"], "collection": ["palestrina"],
    }
    assert by_path["ryansMammoth/AcaciaReel.abc"].style_tags == {
        "composer": ["traditional"], "period": ["folk"], "genre": ["reel"], "collection": ["ryansMammoth"]}
    assert by_path["trecento/Fava_Dicant_nunc_iudei.xml"].style_tags["composer"] == ["anonymous"]
    assert by_path["haydn/opus1no1/movement1.mxl"].style_tags["composer"] == ["joseph haydn"]
    assert by_path["monteverdi/madrigal.5.2.mxl"].style_tags["composer"] == ["claudio monteverdi"]


def test_every_work_has_a_title_and_collections_of_tunes_say_how_many(by_path: dict[str, CorpusWork]) -> None:
    assert all(work.title for work in by_path.values())
    assert by_path["oneills1850/0001-0050.abc"].title == "The Enchanted Valley and 49 other tunes"
    assert by_path["haydn/opus1no1/movement1.mxl"].title == "movement1"


def test_every_finding_gives_reasons(works: list[CorpusWork]) -> None:
    assert all(work.finding.reasons for work in works)


# --- a small corpus of our own ------------------------------------------------------------------------------


def test_survey_of_a_small_corpus_applies_directory_licences_and_survives_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "license.txt").write_text("All files here are released under CC0.")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "x.abc").write_text("X:1\nT:cached\nK:C\n")
    strict = tmp_path / "strict"
    strict.mkdir()
    (strict / "LICENSE").write_text("All rights reserved.")
    (strict / "tune.abc").write_text("X:1\nT:Strict Tune\nC:J.S. Bach\nK:C\nC|\n")
    (tmp_path / "open.abc").write_text("X:1\nT:Open Tune\nC:J.S. Bach\nK:C\nC|\n")
    (tmp_path / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    (tmp_path / "cover.png").write_bytes(b"\x89PNG")

    works = list(survey(tmp_path, as_of_year=AS_OF))
    assert [w.relative_path for w in works] == ["broken.mid", "open.abc", "strict/tune.abc"]
    broken, open_tune, strict_tune = works
    assert open_tune.finding.status == RightsStatus.PUBLIC_DOMAIN
    assert strict_tune.finding.status == RightsStatus.RESERVED
    assert broken.metadata.fields["error"][0].startswith("truncated_midi")
    assert broken.finding.reasons[0].startswith("The file could not be read")
    assert broken.finding.status == RightsStatus.RESERVED  # CC0 encoding, but no author known


def test_collections_table_covers_every_corpus_directory() -> None:
    directories = {p.name for p in CORPUS.iterdir() if p.is_dir()} - reference_corpus.SKIPPED_DIRECTORIES
    assert directories <= set(reference_corpus.COLLECTIONS)
