"""Liccium TDM·AI intake: "false" is the opt-out, inheritance all -> train-ai -> train-genai, strict validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from licensing import liccium
from licensing.terms import IntakeError, ReservedUse, Source, Subject, SubjectKind

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "optouts"
FULL_OPTOUT = (ASSETS / "liccium-full-optout.json").read_text()
GENAI_ONLY = (ASSETS / "liccium-genai-only.json").read_text()
UPDATE = (ASSETS / "liccium-update-allow-training.json").read_text()
INVALID = json.loads((ASSETS / "liccium-invalid.json").read_text())["mutations"]
RECORDING = "ISCC:KUABFM2OGGXUJ64UZV6ZFMB66MSEU"


def declaration(**fields: Any) -> dict[str, Any]:
    """A minimal valid declaration with `fields` added."""
    return {"version": "1.0", "iscc": RECORDING, "intent": "activate", **fields}


def uses(*names: str) -> frozenset[ReservedUse]:
    return frozenset(ReservedUse(name) for name in names)


def test_a_full_opt_out_reserves_everything_for_the_iscc() -> None:
    [reservation] = liccium.reservations(FULL_OPTOUT)
    assert reservation.subject == Subject(SubjectKind.ISCC, RECORDING)
    assert reservation.uses == uses("all")
    assert reservation.source is Source.LICCIUM
    assert reservation.evidence["declaration"] == json.loads(FULL_OPTOUT)
    assert reservation.evidence["intent"] == "activate"
    json.dumps(reservation.evidence)


def test_a_policy_that_is_not_a_url_stays_in_evidence_only() -> None:
    [reservation] = liccium.reservations(FULL_OPTOUT)
    assert reservation.policy_url == ""
    assert reservation.evidence["declaration"]["policy"].startswith("Reservation of rights under Article 4(3)")


def test_false_on_generative_training_alone_reserves_generative_training_with_the_policy_url() -> None:
    [reservation] = liccium.reservations(GENAI_ONLY)
    assert reservation.uses == uses("generative_training")
    assert reservation.policy_url == "https://www.nordlicht-musikverlag.example/legal/ai-policy"
    assert reservation.subject.value == "ISCC:KEC7VSV5QH7FTV7N5YVD5UMF4TUKFFGDGCOI4UDFKE4FNPW6C3L7J2Y"


def test_true_everywhere_reserves_nothing() -> None:
    assert liccium.reservations(declaration(all="true", **{"ai-use": "true", "search": "true"})) == []


def test_a_declaration_without_preferences_reserves_nothing() -> None:
    assert liccium.reservations(declaration()) == []


@pytest.mark.parametrize(
    ("fields", "effective", "reserved"),
    [
        ({"all": "false"}, {"all": False, "train-ai": False, "train-genai": False, "ai-use": None}, ["all"]),
        ({"train-ai": "false"}, {"all": None, "train-ai": False, "train-genai": False, "ai-use": None},
         ["ai_training"]),
        ({"all": "false", "train-ai": "true"}, {"train-ai": True, "train-genai": True}, []),
        ({"all": "false", "train-genai": "true"}, {"train-ai": False, "train-genai": True}, []),
        ({"all": "true", "train-genai": "false"}, {"train-ai": True, "train-genai": False}, ["generative_training"]),
        ({"train-ai": "false", "train-genai": "true"}, {"train-ai": False, "train-genai": True}, []),
        ({"all": "false", "ai-use": "true"}, {"train-ai": False, "ai-use": True}, ["ai_training"]),
        ({"all": "true", "ai-use": "false"}, {"train-genai": True, "ai-use": False}, ["ai_inference"]),
        ({"search": "false"}, {"all": None, "search": False}, []),
    ],
)
def test_preferences_inherit_from_all_to_train_ai_to_train_genai(
    fields: dict[str, str], effective: dict[str, bool | None], reserved: list[str]
) -> None:
    parsed = liccium.parse_declaration(declaration(**fields))
    assert {k: parsed.effective()[k] for k in effective} == effective
    assert parsed.reserved_uses() == uses(*reserved)


def test_ai_use_does_not_inherit_from_all() -> None:
    parsed = liccium.parse_declaration(declaration(all="true"))
    assert parsed.effective()["ai-use"] is None
    assert parsed.effective()["search"] is None


def test_an_update_that_licenses_training_keeps_ai_use_reserved() -> None:
    parsed = liccium.parse_declaration(UPDATE)
    assert parsed.intent == "update"
    assert parsed.reference == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    [reservation] = liccium.reservations(UPDATE)
    assert reservation.uses == uses("ai_inference")
    assert reservation.evidence["intent"] == "update"


@pytest.mark.parametrize(("value", "allowed"), [("true", True), ("false", False), (True, True), (False, False),
                                                ("y", True), ("n", False)])
def test_strings_json_booleans_and_y_n_all_mean_allowed_or_disallowed(value: object, allowed: bool) -> None:
    assert liccium.parse_declaration(declaration(**{"train-ai": value})).explicit == {"train-ai": allowed}


def test_the_supercede_spelling_is_read_as_supersede_and_kept_verbatim_in_evidence() -> None:
    [reservation] = liccium.reservations(declaration(intent="supercede", all="false"))
    assert reservation.evidence["intent"] == "supersede"
    assert reservation.evidence["declaration"]["intent"] == "supercede"


def test_bytes_and_decoded_objects_parse_alike() -> None:
    assert liccium.parse_declaration(FULL_OPTOUT.encode()) == liccium.parse_declaration(json.loads(FULL_OPTOUT))


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case["mutation"])
def test_malformed_declarations_are_rejected_with_a_precise_code(case: dict[str, Any]) -> None:
    if "text" in case:
        data: Any = case["text"]
    else:
        data = json.loads(FULL_OPTOUT)
        for name, value in case["set"].items():
            if value is None:
                data.pop(name)
            else:
                data[name] = value
    with pytest.raises(IntakeError) as caught:
        liccium.parse_declaration(data)
    assert caught.value.code == case["code"]
    for key, value in case.get("details", {}).items():
        assert caught.value.details[key] == value


def test_a_non_canonical_iscc_error_tells_the_user_what_to_resubmit() -> None:
    with pytest.raises(IntakeError) as caught:
        liccium.parse_declaration(declaration(iscc="iscc:kuabfm2oggxuj64uzv6zfmb66mseu"))
    assert f"Resubmit it as {RECORDING}." in caught.value.message


def test_canonical_iscc_accepts_units_and_codes_and_rejects_garbage() -> None:
    assert liccium.canonical_iscc("ISCC:GAARFM2OGGXUJ64U") == "ISCC:GAARFM2OGGXUJ64U"  # a Data-Code unit
    assert liccium.canonical_iscc(RECORDING) == RECORDING
    with pytest.raises(ValueError, match="does not match"):
        liccium.canonical_iscc("ISCC:not-a-code")
