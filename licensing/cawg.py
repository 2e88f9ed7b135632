"""CAWG / C2PA training-and-data-mining intake: reservations stated in an asset's active C2PA manifest.

Reads ``cawg.training-mining`` (CAWG Training and Data Mining Assertion 1.1) and the legacy
``c2pa.training-mining`` (C2PA 1.x, keys ``c2pa.*``) from the active manifest with c2pa-python; the
interpretation (:func:`reservations_from_manifest`) is pure and needs neither c2pa nor Django. Malformed or
unusable input raises :class:`licensing.terms.IntakeError`; nothing is stored. ``c2pa`` is imported inside
:func:`reservations_from_asset` only, to keep it out of the web process (style guide, heavy imports).

What the assertion says (CAWG spec, "Assertion definition"; c2pa-js reads the same shape):

* ``{"entries": {<key>: {"use": "allowed" | "notAllowed" | "constrained", "constraint_info"?: text}}}``
  with pre-defined keys ``cawg.data_mining``, ``cawg.ai_inference``, ``cawg.ai_generative_training`` and
  ``cawg.ai_training`` (legacy: the same with ``c2pa.``). Custom keys are allowed and are ignored here.
  Pre-1.1 writers sometimes put the entries at the top level instead of under ``entries``; that is read too.
* "In the absence of additional information, ``constrained`` shall be treated as equivalent to
  ``notAllowed``." We record it as reserved with ``Reservation.constraint`` set to the ``constraint_info``
  text; whether that names a license we hold is decided elsewhere (terms.Reservation).

Mapping: data_mining -> DATA_MINING, ai_inference -> AI_INFERENCE, ai_generative_training ->
GENERATIVE_TRAINING, ai_training -> AI_TRAINING; ``allowed`` reserves nothing. When both assertions are
present each yields its own reservations (source CAWG or C2PA), so their union applies: any disallow wins.
Reservations are grouped by constraint, because a constraint waives only the uses it was stated for.

Trust: an Invalid manifest (tampered asset, broken signature, expired certificate) raises
``c2pa_invalid_manifest`` with the validation codes. A manifest that is intact but signed by a credential we
do not trust (validation state ``Valid`` with ``signingCredential.untrusted``) is accepted: an opt-out is the
holder's own statement restricting use of their work, and honouring it cannot be abused to gain rights, so
who signed it matters less than that it is intact. The validation state and failure codes are kept in the
evidence so a reviewer can tell Trusted from Valid.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from licensing.terms import IntakeError, Reservation, ReservedUse, Source, Subject

__all__ = [
    "ASSERTION_SOURCES",
    "CHOICES",
    "ENTRY_USES",
    "reservations_from_asset",
    "reservations_from_manifest",
]

ASSERTION_SOURCES: Final[Mapping[str, Source]] = {
    "cawg.training-mining": Source.CAWG,
    "c2pa.training-mining": Source.C2PA,
}
ENTRY_USES: Final[Mapping[str, ReservedUse]] = {
    "data_mining": ReservedUse.DATA_MINING,
    "ai_inference": ReservedUse.AI_INFERENCE,
    "ai_generative_training": ReservedUse.GENERATIVE_TRAINING,
    "ai_training": ReservedUse.AI_TRAINING,
}
CHOICES: Final = ("allowed", "notAllowed", "constrained")
ACCEPTED_STATES: Final = ("Trusted", "Valid")
# Never reach out to the network while reading an uploaded asset (SSRF, latency): no remote manifests, no OCSP.
_OFFLINE: Final[Mapping[str, Any]] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


def _entry_use(key: str) -> ReservedUse | None:
    """The reserved use named by an entry key of either prefix (``cawg.ai_training``, ``c2pa.ai_training``)."""
    prefix, _, name = key.partition(".")
    return ENTRY_USES.get(name) if prefix in ("cawg", "c2pa") else None


def _bad_assertion(label: str, message: str, **details: Any) -> IntakeError:
    return IntakeError(
        "c2pa_bad_assertion",
        f"The {label} assertion is malformed: {message}. Re-sign the asset with a well-formed assertion.",
        details={"assertion": label, **details},
    )


def _entries(label: str, data: object) -> tuple[Mapping[str, Any], str]:
    if not isinstance(data, Mapping):
        raise _bad_assertion(label, "its data is not a map")
    entries = data.get("entries")
    if entries is None:
        return {k: v for k, v in data.items() if k != "metadata"}, "top-level (pre-1.1)"
    if not isinstance(entries, Mapping):
        raise _bad_assertion(label, "\"entries\" is not a map")
    return entries, "entries"


def _assertion_reservations(
    label: str, data: object, subject: Subject, common: Mapping[str, Any]
) -> list[Reservation]:
    """Reservations from one training-mining assertion, one per distinct constraint."""
    source = ASSERTION_SOURCES[label.split("__", 1)[0]]
    entries, layout = _entries(label, data)
    by_constraint: dict[str, set[ReservedUse]] = {}
    ignored: list[str] = []
    for key, entry in entries.items():
        use = _entry_use(key)
        if use is None:
            ignored.append(key)
            continue
        if not isinstance(entry, Mapping) or entry.get("use") not in CHOICES:
            got = entry.get("use") if isinstance(entry, Mapping) else entry
            raise _bad_assertion(
                label, f"entry {key!r} must have \"use\" set to one of {', '.join(CHOICES)}", entry=key, got=got
            )
        # The CDDL and c2pa-js say constraint_info; the CAWG 1.1 prose once says constraints_info. Read both.
        constraint_info = entry.get("constraint_info", entry.get("constraints_info", ""))
        if not isinstance(constraint_info, str):
            raise _bad_assertion(label, f"constraint_info of entry {key!r} is not text", entry=key)
        if entry["use"] == "allowed":
            continue
        constraint = constraint_info.strip() if entry["use"] == "constrained" else ""
        by_constraint.setdefault(constraint, set()).add(use)
    evidence_base = {**common, "assertion_label": label, "assertion": data, "layout": layout,
                     "ignored_entries": ignored}
    return [
        Reservation(subject=subject, uses=frozenset(uses), source=source, evidence=dict(evidence_base),
                    constraint=constraint)
        for constraint, uses in sorted(by_constraint.items())
    ]


def reservations_from_manifest(
    manifest: Mapping[str, Any],
    subject: Subject,
    *,
    validation_state: str | None,
    validation_failures: Sequence[Mapping[str, Any]] = (),
    mime: str = "",
) -> list[Reservation]:
    """Reservations stated by the training-mining assertions of one (active) manifest, as c2pa's JSON shows it.

    Raises ``c2pa_invalid_manifest`` unless the validation state is Trusted or Valid, and
    ``c2pa_bad_assertion`` for an assertion we cannot read. No training-mining assertion means [].
    """
    failure_codes = [str(f.get("code", "")) for f in validation_failures]
    if validation_state not in ACCEPTED_STATES:
        raise IntakeError(
            "c2pa_invalid_manifest",
            f"The asset's C2PA manifest does not validate (state {validation_state}); the file was changed after "
            "signing or the signature is broken. Submit the original signed file.",
            details={"validation_state": validation_state, "codes": failure_codes,
                     "manifest_label": manifest.get("label")},
        )
    common: dict[str, Any] = {
        "mime": mime,
        "manifest_label": manifest.get("label"),
        "title": manifest.get("title"),
        "claim_generator_info": manifest.get("claim_generator_info"),
        "signature_info": manifest.get("signature_info"),
        "validation_state": validation_state,
        "validation_failures": failure_codes,
    }
    assertions = manifest.get("assertions") or []
    if not isinstance(assertions, list):
        raise _bad_assertion("manifest", "\"assertions\" is not a list")
    result: list[Reservation] = []
    for assertion in assertions:
        label = assertion.get("label") if isinstance(assertion, Mapping) else None
        if isinstance(label, str) and label.split("__", 1)[0] in ASSERTION_SOURCES:
            result.extend(_assertion_reservations(label, assertion.get("data"), subject, common))
    return result


def reservations_from_asset(
    data: bytes, mime: str, subject: Subject, *, trust_anchors_pem: str | None = None
) -> list[Reservation]:
    """Reservations in the active C2PA manifest embedded in `data` (a file of type `mime`) about `subject`.

    `trust_anchors_pem` lets a credential validate as Trusted instead of Valid; either is accepted (module
    docstring). Raises ``c2pa_unsupported_format``, ``c2pa_unreadable``, ``c2pa_no_manifest``,
    ``c2pa_invalid_manifest`` or ``c2pa_bad_assertion``.
    """
    import c2pa

    settings: dict[str, Any] = dict(_OFFLINE)
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    if mime.lower() not in c2pa.Reader.get_supported_mime_types():
        raise IntakeError(
            "c2pa_unsupported_format",
            f"Content Credentials cannot be read from {mime!r} files; submit a WAV, FLAC, MP3, MP4, PNG or JPEG.",
            details={"mime": mime},
        )
    try:
        reader = c2pa.Reader(mime, io.BytesIO(data), None, c2pa.Context.from_dict(settings))
    except c2pa.C2paError.ManifestNotFound:
        raise IntakeError(
            "c2pa_no_manifest",
            "The file carries no C2PA manifest (Content Credentials), so it states no reservation; it may have "
            "been re-encoded or had its metadata stripped. Submit the originally signed file.",
            details={"mime": mime, "size": len(data)},
        ) from None
    except c2pa.C2paError.RemoteManifest:
        raise IntakeError(
            "c2pa_no_manifest",
            "The file only points to a remote C2PA manifest, which we do not fetch; submit a file with the "
            "manifest embedded.",
            details={"mime": mime, "size": len(data), "reason": "remote_manifest"},
        ) from None
    except c2pa.C2paError as exc:
        raise IntakeError(
            "c2pa_unreadable",
            f"The file could not be read as {mime}: {exc}. Check that the file and its type match.",
            details={"mime": mime, "size": len(data), "error": type(exc).__name__.lstrip("_").removeprefix("C2pa")},
        ) from None
    try:
        store = json.loads(reader.json())
    finally:
        reader.close()
    active = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(active) if active else None
    if not isinstance(manifest, Mapping):
        raise IntakeError(
            "c2pa_no_manifest",
            "The file's C2PA manifest store has no active manifest; submit the originally signed file.",
            details={"mime": mime, "size": len(data)},
        )
    results = store.get("validation_results") or {}
    failures = (results.get("activeManifest") or {}).get("failure") or []
    return reservations_from_manifest(
        manifest, subject, validation_state=store.get("validation_state"), validation_failures=failures, mime=mime
    )
