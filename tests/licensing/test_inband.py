"""In-band metadata: each format read from real music21 corpus files and small handwritten fixtures."""

from __future__ import annotations

import json
import zipfile
from dataclasses import asdict
from pathlib import Path

import pytest

from licensing import inband
from licensing.inband import Creator, InbandError, RightsStatement
from licensing.reference_corpus import music21_corpus_root

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "inband"
CORPUS = music21_corpus_root()


def read_corpus(relative: str) -> inband.InbandMetadata:
    path = CORPUS / relative
    return inband.read(path.read_bytes(), filename=path.name)


def read_asset(name: str) -> inband.InbandMetadata:
    return inband.read((ASSETS / name).read_bytes(), filename=name)


# --- a Standard MIDI File written byte by byte (SMF 1.0) --------------------------------------------------------


def vlq(value: int) -> bytes:
    """Variable-length quantity: 7 bits per byte, most significant first, continuation bit on all but the last."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(groups))


def meta(kind: int, text: str, delta: int = 0) -> bytes:
    payload = text.encode("utf-8")
    return vlq(delta) + bytes([0xFF, kind]) + vlq(len(payload)) + payload


def chunk(kind: bytes, body: bytes) -> bytes:
    return kind + len(body).to_bytes(4, "big") + body


END_OF_TRACK = b"\x00\xff\x2f\x00"


def build_midi() -> bytes:
    """Format 1, two tracks: a conductor track named after the song with the copyright notice, and a piano
    track whose notes use running status (status byte given once) around a text event."""
    conductor = (
        meta(0x03, "Greensleeves")
        + meta(0x02, "(C) 2024 Example Sequencing Ltd. All rights reserved.")
        + meta(0x01, "Composer: Traditional")
        + b"\x00\xff\x51\x03\x07\xa1\x20"  # tempo: not text, skipped
        + END_OF_TRACK
    )
    piano = (
        meta(0x03, "Piano")
        + meta(0x04, "Acoustic Grand")
        + b"\x00\xc0\x00"  # program change: one data byte
        + b"\x00\x90\x3c\x40"  # note on, status given
        + b"\x60\x3c\x00"  # running status: note off as velocity 0
        + b"\x00\x3e\x40"  # running status again
        + b"\x00\xf0\x03\x7e\x7f\xf7"  # sysex cancels running status
        + meta(0x01, "Sequenced by Ada Byte", delta=0x60)
        + b"\x00\x90\x3e\x00"
        + b"\x83\x60\xe0\x00\x40"  # two-byte delta, pitch bend
        + END_OF_TRACK
    )
    header = chunk(b"MThd", (1).to_bytes(2, "big") + (2).to_bytes(2, "big") + (480).to_bytes(2, "big"))
    return header + chunk(b"MTrk", conductor) + chunk(b"MXYZ", b"unknown chunk, skipped") + chunk(b"MTrk", piano)


# --- Humdrum ------------------------------------------------------------------------------------------------


def test_humdrum_palestrina_reference_records_are_read_verbatim() -> None:
    metadata = read_corpus("palestrina/Agnus_01.krn")
    assert metadata.format == "humdrum"
    assert metadata.title == "Missa De Beata Marie Virginis (III): Agnus"
    assert Creator("Palestrina, Giovanni Perluigi da", "composer") in metadata.creators
    assert metadata.composer_dates == (1525, 1594)
    assert metadata.fields["CDT"] == ["1525/^1526/-1594/2/2"]
    assert metadata.fields["YEN"] == ["United States of America"]
    assert len(metadata.fields["YEM"]) == 4
    assert metadata.style_hints == {"style": ["renaissance, vocal"], "genre": ["Mass (Paraphrase)"],
                                    "origin": ["Italia"]}


def test_humdrum_copyright_message_lines_form_one_statement_after_the_copyright() -> None:
    statements = read_corpus("palestrina/Agnus_01.krn").statements
    assert [s.source for s in statements] == ["humdrum:YEC", "humdrum:YEM"]
    assert statements[0].text == "Copyright 2000, John Miller"
    assert statements[1].text.splitlines() == [
        "Rights to all derivative electronic formats reserved.",
        "Refer to licensing agreement for further details.",
        "This file must be accompanied by the licensing agreement.",
        "A copy of the licensing agreement may be found at "
        "http://www.music-cog.ohio-state.edu/HumdrumDatabases/Palestrina/license.txt",
    ]


def test_humdrum_latin1_corpus_file_falls_back_to_latin1_instead_of_failing() -> None:
    raw = (CORPUS / "palestrina/Agnus_II_28.krn").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    metadata = read_corpus("palestrina/Agnus_II_28.krn")
    assert metadata.statements[0].text == "Copyright 2000, John Miller"
    assert metadata.composer_dates == (1525, 1594)


def test_humdrum_latin1_fixture_keeps_accents_and_reads_trailing_reference_records() -> None:
    metadata = read_asset("latin1_reference.krn")
    assert metadata.title == "Missa Se la face ay pâle: Se la face ay pâle"
    assert metadata.creators == (Creator("Du Fay, Guillaume", "composer"), Creator("Rémi Müller", "encoder"))
    assert metadata.composer_dates == (1397, 1474)
    assert metadata.statements == (
        RightsStatement("humdrum:YEC", "Copyright 2019, Rémi Müller"),
        RightsStatement("humdrum:YEM", "Released under the Creative Commons Attribution 4.0 licence:\n"
                                       "https://creativecommons.org/licenses/by/4.0/"),
    )
    assert metadata.fields["SCA"] == ["Fallows 1995, no. 3"]


def test_humdrum_without_rights_records_has_no_statements() -> None:
    metadata = read_corpus("chopin/mazurka06-2.krn")
    assert metadata.statements == ()
    assert metadata.composer_dates == (1810, 1849)
    assert Creator("Craig Stuart Sapp", "encoder") in metadata.creators


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1525/^1526/-1594/2/2", (1525, 1594)),
        ("1810///-1849///", (1810, 1849)),
        ("1685/3//-1750/7/28/", (1685, 1750)),
        ("~1397/8/5/-1474/11/27/", (1397, 1474)),
        ("1592^1593-1650^1651", (1592, 1651)),
        ("?1561", (1561, None)),
        ("", (None, None)),
    ],
)
def test_humdrum_dates_keep_earliest_birth_and_latest_death(
    value: str, expected: tuple[int | None, int | None]
) -> None:
    assert inband.parse_humdrum_dates(value) == expected


# --- ABC ----------------------------------------------------------------------------------------------------


def test_abc_gpl_notice_is_captured_as_one_whole_comment_block() -> None:
    metadata = read_corpus("josquin/adieuMesAmours.abc")
    assert metadata.format == "abc"
    assert metadata.title == "Adieu mes amours"
    assert metadata.creators == (Creator("Josquin des Prez", "composer"),)
    [statement] = metadata.statements
    assert statement.source == "abc:comment"
    lines = statement.text.splitlines()
    assert lines[0] == "% Copyright (C) 1999  Laura E. Conrad lconrad@world.std.com"
    assert lines[-1] == "%    Inc., 51 Franklin Street, Fifth Floor, Boston, MA 02110-1301 USA."
    assert "%    (at your option) any later version." in lines
    assert metadata.fields["B"] == ["Odhecaton A", "db: -c 8 -b 21"]


def test_abc_single_tune_file_reads_genre_and_transcriber() -> None:
    metadata = read_corpus("ryansMammoth/AcaciaReel.abc")
    assert metadata.title == "Acacia -- Reel"
    assert metadata.style_hints == {"genre": ["reel"]}
    assert metadata.creators == (Creator("Contributed by Ray Davies,  ray:davies99.freeserve.co.uk", "transcriber"),)
    assert metadata.fields["tunes"] == ["1"]
    assert metadata.statements == ()


def test_abc_collection_file_reads_the_first_tune_and_counts_the_rest() -> None:
    metadata = read_corpus("essenFolksong/altdeu10.abc")
    assert metadata.title == "Das Hildebrandslied"
    assert metadata.fields["tunes"] == ["313"]
    assert len(metadata.fields["tune_titles"]) == 313
    assert metadata.style_hints == {"genre": ["Romanze, Ballade, Lied"],
                                    "origin": ["Europa, Mitteleuropa, Deutschland"]}


def test_abc_file_header_comment_without_rights_words_is_not_a_statement() -> None:
    metadata = read_corpus("airdsAirs/book1.abc")
    assert metadata.statements == ()
    assert metadata.title == "The Ranting Highlandman."


def test_abc_fixture_reads_header_comments_fields_and_a_later_rights_comment() -> None:
    metadata = read_asset("session.abc")
    assert metadata.title == "The Hawthorn Reel"
    assert metadata.fields["T"] == ["The Hawthorn Reel", "Sceach Gheal"]
    assert metadata.creators == (Creator("Jane Fiddler", "composer"), Creator("transcribed by Tom Reed 2020",
                                                                               "transcriber"))
    assert metadata.style_hints == {"origin": ["Ireland, Clare"], "genre": ["reel"]}
    assert [s.source for s in metadata.statements] == ["abc:comment", "abc:comment"]
    assert metadata.statements[0].text.splitlines() == [
        "% Tunes from the Hawthorn Session book",
        "% Copyright 2021 Jane Fiddler",
        "% Licensed under a Creative Commons Attribution 4.0 International licence (CC BY 4.0).",
    ]
    assert metadata.statements[1].text == "% (c) the second part is traditional"
    assert metadata.fields["tune_titles"] == ["The Hawthorn Reel", "Trad. Jig"]


# --- MusicXML -----------------------------------------------------------------------------------------------


def test_musicxml_compressed_rights_and_creators_are_read() -> None:
    metadata = read_corpus("lusitano/allor_che_ignuda.mxl")
    assert metadata.format == "musicxml"
    assert metadata.title == "Allor che ignuda d'herb et fior la terra"
    assert metadata.creators[0] == Creator("Vicente Lusitano", "composer")
    assert metadata.statements == (RightsStatement(
        "musicxml:rights", "Copyright 2022 Michael Scott Asato Cuthbert: released as CC0/Public Domain"),)


def test_musicxml_notice_split_over_two_credits_stays_one_statement() -> None:
    metadata = read_corpus("weber/concertino_clarinet.mxl")
    assert metadata.statements == (
        RightsStatement("musicxml:rights", "Released to Public Domain in 1998"),
        RightsStatement("musicxml:credit", "Copyright © 1998 by Oliver Seely\nand assigned to the public domain."),
    )
    assert Creator("Oliver Seely", "arranger") in metadata.creators


def test_musicxml_printed_credit_notice_is_a_statement_when_there_is_no_rights_element() -> None:
    metadata = read_corpus("bach/bwv10.7.mxl")
    assert metadata.statements == (RightsStatement("musicxml:credit",
                                                   "PDF © 2004 Margaret Greentree - used by permission"),)


def test_musicxml_credit_repeating_the_rights_element_is_not_recorded_twice() -> None:
    metadata = read_corpus("corelli/opus3no1/1grave.xml")
    assert metadata.statements == (RightsStatement("musicxml:rights", "© 2014, Creative Commons License (CC-BY)"),)
    assert "© 2014, Creative Commons License (CC-BY)" in metadata.fields["credit-words"]


@pytest.mark.parametrize(("relative", "text"), [
    ("demos/two-parts.xml", "Copyright ©"),
    ("beethoven/opus59no2/movement2.mxl", ""),
    ("schumann_clara/opus17/movement3.xml", "©"),
])
def test_musicxml_empty_and_template_rights_are_recorded_verbatim(relative: str, text: str) -> None:
    assert read_corpus(relative).statements == (RightsStatement("musicxml:rights", text),)


def test_musicxml_uncompressed_file_with_dates_in_the_composer_credit() -> None:
    metadata = read_corpus("trecento/PMFC_01-Lugentium siccentur.xml")
    assert metadata.composer_dates == (1291, 1361)
    assert metadata.creators[0] == Creator("Philippe de Vitry\n(1291 -1361)", "composer")


def test_mxl_fixture_follows_the_container_rootfile_and_reads_the_whole_identification() -> None:
    metadata = read_asset("hensel.mxl")
    assert metadata.title == "Songs without Words: No. 1, Andante"
    assert metadata.creators == (
        Creator("Fanny Hensel (1805-1847)", "composer"),
        Creator("Wilhelm Hensel", "lyricist"),
        Creator("Test Fixture", "encoder"),
    )
    assert metadata.composer_dates == (1805, 1847)
    assert metadata.statements == (
        RightsStatement("musicxml:rights", "© 2023 Example Editions"),
        RightsStatement("musicxml:rights:arrangement", "Arrangement licensed CC BY-NC 4.0"),
        RightsStatement("musicxml:credit", "Printed under licence"),
    )
    assert metadata.fields["encoding:encoding-date"] == ["2024-05-01"]
    assert metadata.fields["source"] == ["Autograph, Berlin"]
    assert metadata.style_hints == {"genre": ["song without words"]}
    assert "encoding:supports" not in metadata.fields


def test_mxl_without_container_uses_its_only_musicxml_member(tmp_path: Path) -> None:
    with zipfile.ZipFile(ASSETS / "hensel.mxl") as source:
        score = source.read("scores/hensel.musicxml")
    archive = tmp_path / "bare.mxl"
    with zipfile.ZipFile(archive, "w") as target:
        target.writestr("score.xml", score)
    assert inband.read(archive.read_bytes(), filename="bare.mxl").title == "Songs without Words: No. 1, Andante"


def test_musicxml_declaring_entities_is_refused_before_parsing() -> None:
    with pytest.raises(InbandError) as error:
        read_asset("billion_laughs.musicxml")
    assert error.value.code == "xml_entities"


@pytest.mark.parametrize(("data", "filename", "code"), [
    (b"<score-partwise><identification>", "broken.xml", "xml_malformed"),
    (b"PK\x03\x04 not really a zip", "broken.mxl", "mxl_bad_zip"),
])
def test_malformed_musicxml_is_a_typed_error(data: bytes, filename: str, code: str) -> None:
    with pytest.raises(InbandError) as error:
        inband.read(data, filename=filename)
    assert error.value.code == code


def test_xml_that_is_not_musicxml_reads_as_other() -> None:
    assert inband.read(b"<?xml version='1.0'?><container/>", filename="container.xml").format == "other"


# --- MIDI ---------------------------------------------------------------------------------------------------


def test_midi_meta_events_give_title_copyright_instrument_and_credits() -> None:
    metadata = inband.read(build_midi(), filename="greensleeves.mid")
    assert metadata.format == "midi"
    assert metadata.title == "Greensleeves"
    assert metadata.statements == (
        RightsStatement("midi:copyright", "(C) 2024 Example Sequencing Ltd. All rights reserved."),
    )
    assert metadata.creators == (Creator("Traditional", "composer"), Creator("Ada Byte", "encoder"))
    assert metadata.fields["track_name"] == ["Greensleeves", "Piano"]
    assert metadata.fields["instrument"] == ["Acoustic Grand"]
    assert metadata.fields["format"] == ["1"] and metadata.fields["tracks"] == ["2"]
    assert metadata.fields["division"] == ["480"]


def test_midi_fixture_on_disk_is_the_byte_built_file() -> None:
    assert (ASSETS / "greensleeves.mid").read_bytes() == build_midi()
    assert read_asset("greensleeves.mid").title == "Greensleeves"


def test_midi_is_recognised_by_content_whatever_its_name() -> None:
    assert inband.read(build_midi(), filename="download.bin").format == "midi"


def test_every_truncation_of_a_midi_file_is_a_typed_error_never_a_crash() -> None:
    data = build_midi()
    codes = set()
    for length in range(len(data)):
        with pytest.raises(InbandError) as error:
            inband.read(data[:length], filename="cut.mid")
        codes.add(error.value.code)
    assert codes <= {"truncated_midi", "malformed_midi"}
    assert "truncated_midi" in codes


def test_midi_data_byte_without_running_status_is_malformed() -> None:
    track = chunk(b"MTrk", b"\x00\x3c\x40" + END_OF_TRACK)
    header = chunk(b"MThd", b"\x00\x00\x00\x01\x01\xe0")
    with pytest.raises(InbandError) as error:
        inband.read(header + track, filename="bad.mid")
    assert error.value.code == "malformed_midi"


# --- RomanText and others -----------------------------------------------------------------------------------


def test_romantext_header_gives_composer_analyst_and_proofreader() -> None:
    metadata = read_corpus("bach/choraleAnalyses/riemenschneider006.rntxt")
    assert metadata.format == "romantext"
    assert metadata.title == "Christus, der ist mein Leben"
    assert metadata.creators == (
        Creator("J. S. Bach", "composer"),
        Creator("Andrew Jones", "analyst"),
        Creator("Dmitri Tymoczko and Hamish Robb", "proofreader"),
    )
    assert metadata.fields["BWV"] == ["281"]
    assert metadata.statements == ()


def test_romantext_copyright_line_is_a_statement() -> None:
    metadata = read_asset("analysis.rntxt")
    assert metadata.statements == (RightsStatement("romantext:Copyright", "2016 Dmitri Tymoczko, CC BY-SA 4.0"),)
    assert metadata.style_hints == {"genre": ["madrigal"]}


def test_unknown_formats_read_as_empty_other_metadata() -> None:
    assert read_corpus("demos/layoutTest.png") == inband.InbandMetadata(format="other")
    assert inband.read(b"plain words", filename="notes.txt") == inband.InbandMetadata(format="other")


def test_metadata_is_json_safe() -> None:
    for metadata in (read_corpus("palestrina/Agnus_01.krn"), read_asset("hensel.mxl"), read_asset("session.abc")):
        json.dumps(asdict(metadata))


# --- licence files ------------------------------------------------------------------------------------------


def test_directory_licences_apply_nearest_first_up_to_the_corpus_root() -> None:
    found = inband.directory_license_files(CORPUS / "essenFolksong/altdeu10.abc", CORPUS)
    assert [path for path, _ in found] == ["essenFolksong/license.txt", "license.txt"]
    assert "non-commercial distribution and use" in found[0][1]


def test_a_file_in_an_unlicensed_directory_gets_only_the_root_licence() -> None:
    statements = inband.license_file_statements(CORPUS / "palestrina/Agnus_01.krn", CORPUS)
    assert [s.source for s in statements] == ["license_file:license.txt"]


def test_licence_file_names_match_case_insensitively_and_stop_at_the_root(tmp_path: Path) -> None:
    (tmp_path / "COPYING").write_text("root terms")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    (tmp_path / "a" / "LICENSE").write_text("a terms")
    (nested / "License.TXT").write_text("b terms")
    (nested / "NOTICE").write_text("not a licence file")
    assert inband.directory_license_files(nested / "tune.abc", tmp_path) == [
        ("a/b/License.TXT", "b terms"), ("a/LICENSE", "a terms"), ("COPYING", "root terms")]


def test_a_path_outside_the_root_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not inside"):
        inband.directory_license_files(CORPUS / "license.txt", tmp_path)
