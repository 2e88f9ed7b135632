"""CAWG / legacy C2PA training-mining intake from really signed WAV files (throwaway test credentials)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from licensing import cawg
from licensing.terms import IntakeError, ReservedUse, Source, Subject, SubjectKind
from tests.licensing import c2pa_fixtures as fx

WORK = Subject(SubjectKind.WORK, "work-0014")
LICENSE = "https://www.nordlicht-musikverlag.example/licenses/ai-inference-v2"


def uses(*names: str) -> frozenset[ReservedUse]:
    return frozenset(ReservedUse(name) for name in names)


@pytest.fixture(scope="module")
def cawg_signed() -> bytes:
    return fx.sign_wav([fx.training_mining("cawg", {
        "data_mining": "notAllowed",
        "ai_generative_training": "notAllowed",
        "ai_training": "allowed",
        "ai_inference": ("constrained", LICENSE),
    })])


@pytest.fixture(scope="module")
def both_signed() -> bytes:
    return fx.sign_wav([
        fx.training_mining("cawg", {"ai_generative_training": "allowed", "ai_inference": ("constrained", LICENSE)}),
        fx.training_mining("c2pa", {"ai_generative_training": "notAllowed", "ai_inference": "notAllowed"}),
    ])


def by_source(found: list[Any]) -> dict[tuple[Source, str], frozenset[ReservedUse]]:
    return {(r.source, r.constraint): r.uses for r in found}


# --- Reading signed assets -------------------------------------------------------------------------------------


def test_not_allowed_entries_become_reservations_grouped_by_constraint(cawg_signed: bytes) -> None:
    found = cawg.reservations_from_asset(cawg_signed, fx.WAV_MIME, WORK)
    assert by_source(found) == {
        (Source.CAWG, ""): uses("data_mining", "generative_training"),
        (Source.CAWG, LICENSE): uses("ai_inference"),
    }
    assert all(r.subject == WORK for r in found)


def test_an_untrusted_signer_is_accepted_and_recorded_as_valid(cawg_signed: bytes) -> None:
    evidence = cawg.reservations_from_asset(cawg_signed, fx.WAV_MIME, WORK)[0].evidence
    assert evidence["validation_state"] == "Valid"
    assert evidence["validation_failures"] == ["signingCredential.untrusted"]


def test_a_signer_under_a_given_trust_anchor_is_recorded_as_trusted(cawg_signed: bytes) -> None:
    found = cawg.reservations_from_asset(
        cawg_signed, fx.WAV_MIME, WORK, trust_anchors_pem=fx.signing_material().root_pem
    )
    assert {r.evidence["validation_state"] for r in found} == {"Trusted"}
    assert found[0].evidence["validation_failures"] == []


def test_evidence_holds_the_assertion_verbatim_and_who_signed_it(cawg_signed: bytes) -> None:
    evidence = cawg.reservations_from_asset(cawg_signed, fx.WAV_MIME, WORK)[0].evidence
    assert evidence["assertion_label"] == "cawg.training-mining"
    assert evidence["assertion"]["entries"]["cawg.ai_inference"] == {"use": "constrained", "constraint_info": LICENSE}
    assert evidence["assertion"]["entries"]["cawg.ai_training"] == {"use": "allowed"}
    assert evidence["manifest_label"].startswith("urn:c2pa:")
    assert evidence["claim_generator_info"][0]["name"] == "clearcue-tests"
    assert evidence["signature_info"]["common_name"] == "Clearcue Test Signer"
    assert evidence["signature_info"]["issuer"] == "Clearcue Test Fixtures"
    assert evidence["mime"] == "audio/wav"
    assert evidence["layout"] == "entries"
    json.dumps(evidence)


def test_legacy_c2pa_assertion_is_read_with_source_c2pa() -> None:
    signed = fx.sign_wav([fx.training_mining("c2pa", {"ai_training": "notAllowed", "data_mining": "allowed"})])
    [reservation] = cawg.reservations_from_asset(signed, fx.WAV_MIME, WORK)
    assert (reservation.source, reservation.uses) == (Source.C2PA, uses("ai_training"))
    assert reservation.evidence["assertion_label"] == "c2pa.training-mining"


def test_with_both_assertions_any_disallow_wins(both_signed: bytes) -> None:
    found = cawg.reservations_from_asset(both_signed, fx.WAV_MIME, WORK)
    assert by_source(found) == {
        (Source.CAWG, LICENSE): uses("ai_inference"),
        (Source.C2PA, ""): uses("generative_training", "ai_inference"),
    }
    # CAWG allows generative training and only constrains inference; the legacy assertion forbids both, and
    # its reservations stand on their own, so generative training and inference stay reserved outright.
    unconditional = frozenset().union(*(r.uses for r in found if not r.constraint))
    assert unconditional == uses("generative_training", "ai_inference")


def test_allowed_everywhere_reserves_nothing() -> None:
    signed = fx.sign_wav([fx.training_mining("cawg", dict.fromkeys(
        ("data_mining", "ai_inference", "ai_generative_training", "ai_training"), "allowed"))])
    assert cawg.reservations_from_asset(signed, fx.WAV_MIME, WORK) == []


def test_a_manifest_without_a_training_mining_assertion_reserves_nothing() -> None:
    assert cawg.reservations_from_asset(fx.sign_wav([]), fx.WAV_MIME, WORK) == []


def test_a_tampered_asset_is_rejected_with_the_validation_codes(cawg_signed: bytes) -> None:
    with pytest.raises(IntakeError) as caught:
        cawg.reservations_from_asset(fx.flip_audio_byte(cawg_signed), fx.WAV_MIME, WORK)
    assert caught.value.code == "c2pa_invalid_manifest"
    assert caught.value.details["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in caught.value.details["codes"]
    assert caught.value.details["manifest_label"].startswith("urn:c2pa:")


def test_a_stripped_asset_has_no_manifest(cawg_signed: bytes) -> None:
    stripped = fx.strip_manifest(cawg_signed)
    assert stripped[:4] == b"RIFF" and len(stripped) < len(cawg_signed)
    with pytest.raises(IntakeError) as caught:
        cawg.reservations_from_asset(stripped, fx.WAV_MIME, WORK)
    assert caught.value.code == "c2pa_no_manifest"


def test_an_unsigned_wav_has_no_manifest() -> None:
    with pytest.raises(IntakeError) as caught:
        cawg.reservations_from_asset(fx.wav_bytes(), fx.WAV_MIME, WORK)
    assert caught.value.code == "c2pa_no_manifest"


@pytest.mark.parametrize(("data", "error"), [(b"not a riff file at all" * 10, "Other"), (b"", "Io")])
def test_garbage_bytes_are_unreadable(data: bytes, error: str) -> None:
    with pytest.raises(IntakeError) as caught:
        cawg.reservations_from_asset(data, fx.WAV_MIME, WORK)
    assert caught.value.code == "c2pa_unreadable"
    assert caught.value.details["error"] == error


def test_a_format_c2pa_cannot_read_is_refused_before_reading(cawg_signed: bytes) -> None:
    with pytest.raises(IntakeError) as caught:
        cawg.reservations_from_asset(cawg_signed, "audio/aac", WORK)
    assert caught.value.code == "c2pa_unsupported_format"


def test_a_mislabelled_file_is_read_by_its_content_and_the_claimed_type_recorded(cawg_signed: bytes) -> None:
    # c2pa-rs sniffs the container; the declared type only has to be one it supports.
    found = cawg.reservations_from_asset(cawg_signed, "image/png", WORK)
    assert by_source(found)[(Source.CAWG, "")] == uses("data_mining", "generative_training")
    assert found[0].evidence["mime"] == "image/png"


# --- Interpreting manifests (pure) -------------------------------------------------------------------------------


def manifest(*assertions: dict[str, Any]) -> dict[str, Any]:
    return {"label": "urn:c2pa:test", "title": "t", "assertions": list(assertions)}


def read(*assertions: dict[str, Any], state: str | None = "Valid") -> list[Any]:
    return cawg.reservations_from_manifest(manifest(*assertions), WORK, validation_state=state)


def test_pre_1_1_assertions_with_top_level_entries_are_read() -> None:
    data = {"cawg.ai_training": {"use": "notAllowed"}, "metadata": {"dateTime": "2024-03-18T00:00:00Z"}}
    [reservation] = read({"label": "cawg.training-mining", "data": data})
    assert reservation.uses == uses("ai_training")
    assert reservation.evidence["layout"] == "top-level (pre-1.1)"


def test_custom_entries_are_ignored_and_listed() -> None:
    data = {"entries": {"com.example.voice_cloning": {"use": "notAllowed"}, "cawg.unknown_use": {"use": "x"},
                        "cawg.data_mining": {"use": "notAllowed"}}}
    [reservation] = read({"label": "cawg.training-mining", "data": data})
    assert reservation.uses == uses("data_mining")
    assert reservation.evidence["ignored_entries"] == ["com.example.voice_cloning", "cawg.unknown_use"]


def test_legacy_keys_inside_the_cawg_assertion_still_count() -> None:
    entries = {"c2pa.ai_inference": {"use": "notAllowed"}}
    [reservation] = read({"label": "cawg.training-mining", "data": {"entries": entries}})
    assert (reservation.source, reservation.uses) == (Source.CAWG, uses("ai_inference"))


def test_constrained_without_constraint_info_counts_as_not_allowed() -> None:
    entries = {"cawg.ai_training": {"use": "constrained"}, "cawg.data_mining": {"use": "notAllowed"}}
    [reservation] = read({"label": "cawg.training-mining", "data": {"entries": entries}})
    assert (reservation.constraint, reservation.uses) == ("", uses("ai_training", "data_mining"))


def test_the_constraints_info_spelling_of_the_cawg_prose_is_read_too() -> None:
    entries = {"cawg.ai_inference": {"use": "constrained", "constraints_info": LICENSE}}
    [reservation] = read({"label": "cawg.training-mining", "data": {"entries": entries}})
    assert reservation.constraint == LICENSE


def test_repeated_assertion_instances_are_all_read() -> None:
    found = read(
        {"label": "cawg.training-mining", "data": {"entries": {"cawg.ai_training": {"use": "notAllowed"}}}},
        {"label": "cawg.training-mining__1", "data": {"entries": {"cawg.ai_inference": {"use": "notAllowed"}}}},
    )
    assert [r.uses for r in found] == [uses("ai_training"), uses("ai_inference")]
    assert found[1].evidence["assertion_label"] == "cawg.training-mining__1"


@pytest.mark.parametrize(
    ("data", "entry"),
    [
        ({"entries": {"cawg.ai_training": {"use": "forbidden"}}}, "cawg.ai_training"),
        ({"entries": {"cawg.ai_training": {}}}, "cawg.ai_training"),
        ({"entries": {"cawg.ai_training": "notAllowed"}}, "cawg.ai_training"),
        ({"entries": {"cawg.ai_inference": {"use": "constrained", "constraint_info": {"url": LICENSE}}}},
         "cawg.ai_inference"),
        ({"entries": ["cawg.ai_training"]}, None),
        ("notAllowed", None),
    ],
)
def test_malformed_assertions_are_rejected(data: Any, entry: str | None) -> None:
    with pytest.raises(IntakeError) as caught:
        read({"label": "cawg.training-mining", "data": data})
    assert caught.value.code == "c2pa_bad_assertion"
    assert caught.value.details["assertion"] == "cawg.training-mining"
    if entry is not None:
        assert caught.value.details["entry"] == entry


@pytest.mark.parametrize("state", ["Invalid", None, "Unknown"])
def test_only_trusted_or_valid_manifests_are_read(state: str | None) -> None:
    with pytest.raises(IntakeError) as caught:
        read({"label": "cawg.training-mining", "data": {"entries": {}}}, state=state)
    assert caught.value.code == "c2pa_invalid_manifest"
    assert caught.value.details["validation_state"] == state
