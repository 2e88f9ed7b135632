"""Content Credentials (C2PA manifests) for generated cues: render the facts, sign the file, read it back.

What an output's manifest states (C2PA 2.2 with claim v2 as c2pa-python 0.38.1 / c2pa-rs 0.91.3 builds it,
CAWG 1.1; checked on this machine):

* ``c2pa.actions``: ``c2pa.created`` first (digitalSourceType trainedAlgorithmicMedia, ``when``, softwareAgent
  Clearcue + its version with the model under ``com.clearcue.model``, ``parameters.ingredientIds`` linking the
  model and prompt ingredients, which c2pa-rs turns into hashed ingredient URIs), then ``c2pa.watermarked``.
* ``c2pa.soft-binding``: our watermark's alg and payload over a timespan (required by ``c2pa.watermarked``).
* ``cawg.training-mining`` and the legacy ``c2pa.training-mining`` (the CAI Verify site still reads it):
  every use ``notAllowed`` unless the facts allow it.
* Ingredients v3 with relationship ``inputTo`` and no parent file: the model (dataTypes ``c2pa.types.model``,
  digests of its card and checkpoint in the ingredient metadata) and the prompt (``c2pa.types.generator.prompt``,
  its SHA-256 in the metadata and, unless withheld, its text as an embedded data box).
* ``cawg.metadata``: license terms (``dc:rights``, ``xmpRights:*`` and ``clearcue:licenseTerms``); C2PA forbids
  ``dc:rights`` in ``c2pa.metadata``, CAWG metadata accepts any JSON-LD.
* ``com.clearcue.<suffix>`` custom assertions (shapes in :data:`CUSTOM_ASSERTIONS`).

Ingredients without a parent file are plain JSON in the manifest definition; their embedded data (the prompt
text) is a Builder resource. :func:`build_manifest` is pure, so it carries resources under
:data:`RESOURCES_KEY`, which :func:`sign` strips and hands to ``Builder.add_resource``.

``c2pa`` is imported inside :func:`sign`/:func:`read` only (style guide: heavy imports stay out of web paths).
Every failure is a :class:`CredentialError` with a stable code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from provenance.pki import SigningIdentity

__all__ = [
    "CUSTOM_ASSERTIONS",
    "MAX_MANIFEST_BYTES",
    "MEDIA_TYPES",
    "RESOURCES_KEY",
    "TRAINED_ALGORITHMIC_MEDIA",
    "TRAINING_MINING_USES",
    "CredentialError",
    "CredentialReport",
    "ManifestFacts",
    "Signed",
    "build_manifest",
    "normalize_media_type",
    "read",
    "read_store",
    "sign",
]

SOFTWARE_NAME: Final = "Clearcue"
MEDIA_TYPES: Final = ("audio/wav", "audio/flac", "audio/mpeg", "audio/mp4")
TRAINED_ALGORITHMIC_MEDIA: Final = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
LABEL_PREFIX: Final = "com.clearcue."
# JSON-LD namespace of our cawg.metadata terms; matches the com.clearcue reverse-DNS labels.
NAMESPACE: Final = "https://clearcue.com/ns/credentials/1.0/"
DC_NAMESPACE: Final = "http://purl.org/dc/elements/1.1/"
XMP_RIGHTS_NAMESPACE: Final = "http://ns.adobe.com/xap/1.0/rights/"
MODEL_KEY: Final = "com.clearcue.model"
PROMPT_KEY: Final = "com.clearcue.prompt"
MODEL_INGREDIENT: Final = "clearcue-model"
PROMPT_INGREDIENT: Final = "clearcue-prompt"
PROMPT_RESOURCE: Final = "clearcue-prompt.txt"
# Top-level key of a build_manifest result holding Builder resources; c2pa never sees it (sign strips it).
RESOURCES_KEY: Final = "com.clearcue.resources"
# c2pa-rs caps the definition near 1 MiB; ours stay far below so a runaway list fails here, with a code.
MAX_MANIFEST_BYTES: Final = 256 * 1024
TRAINING_MINING_USES: Final = ("data_mining", "ai_inference", "ai_generative_training", "ai_training")
TRAINING_MINING_CHOICES: Final = ("allowed", "notAllowed")
# Our custom assertions (com.clearcue.<suffix>) and the keys each must carry; any further keys are kept, and
# other well-formed suffixes are accepted too. Intended shapes:
#   attribution:       {"top": [{"work", "title", "rights_holder", "share"}...], "contributors", "digest"}
#   license-graph:     {"digest", "nodes", "edges"}
#   training-manifest: {"merkle_root", "works", "ledger_index", ...}
#   gate-decision:     {"decisions": [{"stage", "allowed", "reasons": [code...], "policy_version", "ledger_index"}]}
#   ledger:            {"checkpoint": signed note text, "entries": [{"leaf_index", "leaf_hash", "inclusion_path"}]}
CUSTOM_ASSERTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "attribution": ("digest",),
    "license-graph": ("digest",),
    "training-manifest": ("merkle_root",),
    "gate-decision": (),
    "ledger": ("checkpoint",),
}
STATES: Final = ("Trusted", "Valid", "Invalid", "Absent")
# Never reach out while signing or reading (SSRF, latency): no remote manifests, no OCSP.
_OFFLINE: Final[Mapping[str, Any]] = {"remote_manifest_fetch": False, "ocsp_fetch": False}
_SHA256_HEX: Final = re.compile(r"[0-9a-f]{64}")
_LABEL: Final = re.compile(r"urn:c2pa:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:.*)?")
_REMOTE_URL: Final = re.compile(r"from url (\S+)")
_SUFFIX: Final = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_MEDIA_ALIASES: Final[Mapping[str, str]] = {
    "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg", "audio/x-m4a": "audio/mp4",
}


class CredentialError(ValueError):
    """A manifest cannot be built, signed or read; `code` is stable, `details` names what was wrong."""

    def __init__(self, code: str, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})


# --- facts ---------------------------------------------------------------------------------------------------

def _default_training_mining() -> dict[str, str]:
    return dict.fromkeys(TRAINING_MINING_USES, "notAllowed")


@dataclass(frozen=True)
class ManifestFacts:
    """Everything an output's manifest states, as plain JSON-able data.

    * `software_agent`: ``{"name": "Clearcue", "version"}``.
    * `model`: ``{"slug", "version", "engine", "model_card_sha256", "checkpoint_sha256"}`` (hex SHA-256), optional
      ``"name"`` and ``"card_url"``; every key is kept in the model ingredient's metadata.
    * `prompt`: ``{"sha256", "text"}``; ``"text"`` None or absent states only the digest (text withheld).
    * `soft_binding`: ``{"alg", "value" (base64), "start_ms", "end_ms"}``.
    * `training_mining`: use (:data:`TRAINING_MINING_USES`) -> "allowed"/"notAllowed"; missing uses are notAllowed.
    * `license_terms`: ``[{"license_id", "licensor", "licensee", "uses", "territories", "attribution", ...}]``.
    * `custom`: label suffix -> data, written as ``com.clearcue.<suffix>`` (:data:`CUSTOM_ASSERTIONS`).
    """

    title: str
    media_type: str
    created_at: str
    software_agent: Mapping[str, Any]
    model: Mapping[str, Any]
    prompt: Mapping[str, Any]
    soft_binding: Mapping[str, Any]
    training_mining: Mapping[str, str] = field(default_factory=_default_training_mining)
    license_terms: Sequence[Mapping[str, Any]] = ()
    custom: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The facts as JSON-able data (to store beside the output); :meth:`from_dict` reads it back."""
        return {
            "title": self.title, "media_type": self.media_type, "created_at": self.created_at,
            "software_agent": dict(self.software_agent), "model": dict(self.model), "prompt": dict(self.prompt),
            "soft_binding": dict(self.soft_binding), "training_mining": dict(self.training_mining),
            "license_terms": [dict(t) for t in self.license_terms],
            "custom": {k: dict(v) for k, v in self.custom.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ManifestFacts:
        """Inverse of :meth:`to_dict`; CredentialError ``invalid_facts`` for a missing field."""
        try:
            return cls(
                title=data["title"], media_type=data["media_type"], created_at=data["created_at"],
                software_agent=dict(data["software_agent"]), model=dict(data["model"]), prompt=dict(data["prompt"]),
                soft_binding=dict(data["soft_binding"]),
                training_mining=dict(data.get("training_mining") or _default_training_mining()),
                license_terms=tuple(data.get("license_terms") or ()), custom=dict(data.get("custom") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CredentialError("invalid_facts", f"Manifest facts are incomplete or malformed: {exc!r}.",
                                  details={"error": repr(exc)}) from None


def _invalid(field_name: str, message: str, **details: Any) -> CredentialError:
    return CredentialError("invalid_facts", f"Manifest facts: {field_name} {message}.",
                           details={"field": field_name, **details})


def _mapping(field_name: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _invalid(field_name, "must be an object", got=type(value).__name__)
    return value


def _require_text(field_name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field_name, "must be non-empty text", got=repr(value)[:80])
    return value


def _require_sha256(field_name: str, value: object) -> str:
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise _invalid(field_name, "must be a lower-case hex SHA-256 (64 characters)", got=repr(value)[:80])
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # bool is an int in Python, not in JSON


def _validate(facts: ManifestFacts) -> None:
    for name in ("title", "created_at"):
        _require_text(name, getattr(facts, name))
    try:
        datetime.fromisoformat(facts.created_at)
    except ValueError:
        raise _invalid("created_at", "must be an ISO 8601 date-time", got=facts.created_at) from None
    if normalize_media_type(facts.media_type) not in MEDIA_TYPES:
        raise CredentialError("c2pa_unsupported_format", f"Cannot seal {facts.media_type!r} outputs; use one of "
                              f"{', '.join(MEDIA_TYPES)}.", details={"media_type": facts.media_type})
    agent = _mapping("software_agent", facts.software_agent)
    for name in ("name", "version"):
        _require_text(f"software_agent.{name}", agent.get(name))
    model = _mapping("model", facts.model)
    for name in ("slug", "version", "engine"):
        _require_text(f"model.{name}", model.get(name))
    _require_sha256("model.model_card_sha256", model.get("model_card_sha256"))
    _require_sha256("model.checkpoint_sha256", model.get("checkpoint_sha256"))
    prompt = _mapping("prompt", facts.prompt)
    digest = _require_sha256("prompt.sha256", prompt.get("sha256"))
    text = prompt.get("text")
    if text is not None and (not isinstance(text, str) or hashlib.sha256(text.encode()).hexdigest() != digest):
        raise _invalid("prompt.sha256", "is not the SHA-256 of prompt.text (UTF-8)")
    binding = _mapping("soft_binding", facts.soft_binding)
    _require_text("soft_binding.alg", binding.get("alg"))
    try:
        base64.b64decode(binding.get("value") or "", validate=True)
        if not binding.get("value"):
            raise ValueError("empty")
    except (binascii.Error, ValueError, TypeError):
        raise _invalid("soft_binding.value", "must be non-empty base64", got=repr(binding.get("value"))[:80]) from None
    start, end = binding.get("start_ms"), binding.get("end_ms")
    if not (_is_int(start) and _is_int(end) and 0 <= start <= end):  # type: ignore[operator]
        raise _invalid("soft_binding", "timespan must be whole milliseconds with 0 <= start_ms <= end_ms",
                       start_ms=start, end_ms=end)
    for use, choice in _mapping("training_mining", facts.training_mining).items():
        if use not in TRAINING_MINING_USES:
            raise _invalid("training_mining", f"names unknown use {use!r}", use=use)
        if choice not in TRAINING_MINING_CHOICES:
            raise _invalid("training_mining", f"choice for {use} must be allowed or notAllowed", use=use, got=choice)
    for index, term in enumerate(facts.license_terms):
        _mapping(f"license_terms[{index}]", term)
    for suffix, data in _mapping("custom", facts.custom).items():
        if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix):
            raise _invalid("custom", f"suffix {suffix!r} is not a lower-case label component", suffix=repr(suffix))
        _mapping(f"custom[{suffix}]", data)
        missing = [key for key in CUSTOM_ASSERTIONS.get(suffix, ()) if key not in data]
        if missing:
            raise _invalid(f"custom[{suffix}]", f"lacks {', '.join(missing)}", suffix=suffix, keys=missing)


def normalize_media_type(media_type: str) -> str:
    """`media_type` lower-cased, without parameters, aliases mapped (audio/x-wav -> audio/wav)."""
    base = media_type.split(";", 1)[0].strip().lower()
    return _MEDIA_ALIASES.get(base, base)


# --- rendering -----------------------------------------------------------------------------------------------

def _training_mining(prefix: str, choices: Mapping[str, str]) -> dict[str, Any]:
    merged = {**_default_training_mining(), **choices}
    return {"label": f"{prefix}.training-mining",
            "data": {"entries": {f"{prefix}.{use}": {"use": merged[use]} for use in TRAINING_MINING_USES}}}


def _license_metadata(facts: ManifestFacts) -> dict[str, Any]:
    terms = [dict(t) for t in facts.license_terms]
    rights = [str(t["attribution"]) for t in terms if t.get("attribution")]
    metadata: dict[str, Any] = {
        "@context": {"dc": DC_NAMESPACE, "xmpRights": XMP_RIGHTS_NAMESPACE, "clearcue": NAMESPACE},
        "dc:title": facts.title,
        "xmpRights:Marked": True,
        "clearcue:licenseTerms": terms,
    }
    if rights:
        metadata["dc:rights"] = "; ".join(rights)
    usage = sorted({str(u) for t in terms for u in (t.get("uses") or ())})
    if usage:
        metadata["xmpRights:UsageTerms"] = "Licensed uses: " + ", ".join(usage)
    return metadata


def build_manifest(facts: ManifestFacts, *, max_bytes: int = MAX_MANIFEST_BYTES) -> dict[str, Any]:
    """The manifest definition for `facts` (plus prompt text under :data:`RESOURCES_KEY`), ready for :func:`sign`.

    Raises CredentialError ``invalid_facts``, ``c2pa_unsupported_format`` or ``manifest_too_large``.
    """
    _validate(facts)
    model, prompt, binding = facts.model, facts.prompt, facts.soft_binding
    agent = {"name": facts.software_agent["name"], "version": facts.software_agent["version"]}
    model_ref = {k: model[k] for k in ("slug", "name", "version", "engine") if k in model}
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "when": facts.created_at,
        "softwareAgent": {**agent, MODEL_KEY: model_ref},
        "description": f"Generated by {model['slug']} {model['version']} ({model['engine']}) from a scene description",
        "parameters": {"ingredientIds": [MODEL_INGREDIENT, PROMPT_INGREDIENT]},
    }
    watermarked = {
        "action": "c2pa.watermarked",
        "when": facts.created_at,
        "softwareAgent": agent,
        "description": f"Watermark {binding['alg']} embedded ({binding['start_ms']}-{binding['end_ms']} ms)",
    }
    model_ingredient: dict[str, Any] = {
        "title": f"{model['slug']} {model['version']}",
        "format": "application/octet-stream",
        "relationship": "inputTo",
        "label": MODEL_INGREDIENT,
        "description": f"{model['engine']} model {model['slug']}, version {model['version']}",
        "data_types": [{"type": "c2pa.types.model", "version": str(model["version"])}],
        "metadata": {MODEL_KEY: {k: v for k, v in model.items() if k != "card_url"}},
    }
    if model.get("card_url"):
        model_ingredient["informational_URI"] = str(model["card_url"])
    text = prompt.get("text")
    prompt_ingredient: dict[str, Any] = {
        "title": "Scene description",
        "format": "text/plain",
        "relationship": "inputTo",
        "label": PROMPT_INGREDIENT,
        "data_types": [{"type": "c2pa.types.generator.prompt"}],
        "metadata": {PROMPT_KEY: {"sha256": prompt["sha256"], "embedded": text is not None}},
    }
    manifest: dict[str, Any] = {
        "claim_generator_info": [agent],
        "title": facts.title,
        "format": normalize_media_type(facts.media_type),
        "ingredients": [model_ingredient, prompt_ingredient],
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [created, watermarked]}},
            {"label": "c2pa.soft-binding", "data": {
                "alg": binding["alg"],
                "blocks": [{"scope": {"timespan": {"start": binding["start_ms"], "end": binding["end_ms"]}},
                            "value": binding["value"]}],
            }},
            _training_mining("cawg", facts.training_mining),
            _training_mining("c2pa", facts.training_mining),
            {"label": "cawg.metadata", "data": _license_metadata(facts)},
            *({"label": LABEL_PREFIX + suffix, "data": dict(facts.custom[suffix])} for suffix in sorted(facts.custom)),
        ],
    }
    if text is not None:
        prompt_ingredient["data"] = {"format": "text/plain", "identifier": PROMPT_RESOURCE}
        manifest[RESOURCES_KEY] = {PROMPT_RESOURCE: {"format": "text/plain", "text": text}}
    _encoded(manifest, max_bytes)
    return manifest


def _encoded(manifest: Mapping[str, Any], max_bytes: int) -> tuple[bytes, dict[str, bytes]]:
    """The definition as JSON (without resources) and the resources' bytes; enforces the size cap."""
    definition = {k: v for k, v in manifest.items() if k != RESOURCES_KEY}
    try:
        encoded = json.dumps(definition, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise CredentialError("invalid_facts", f"The manifest is not JSON-able: {exc}.",
                              details={"error": str(exc)}) from None
    resources: dict[str, bytes] = {}
    for identifier, resource in (manifest.get(RESOURCES_KEY) or {}).items():
        if "text" in resource:
            resources[identifier] = str(resource["text"]).encode()
        else:
            resources[identifier] = base64.b64decode(resource["base64"])
    size = len(encoded) + sum(len(v) for v in resources.values())
    if size > max_bytes:
        raise CredentialError("manifest_too_large", f"The manifest would be {size} bytes, above the {max_bytes}-byte "
                              "cap; shorten the lists it carries (attribution, proofs, license terms).",
                              details={"size": size, "max_bytes": max_bytes})
    return encoded, resources


# --- signing -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Signed:
    """A signed output: the file with its manifest embedded, the active manifest's id and the JUMBF store."""

    data: bytes = field(repr=False)
    manifest_id: str
    manifest_store: bytes = field(repr=False)
    media_type: str


def _c2pa_alg(c2pa: Any, alg: str) -> Any:
    return {"es256": c2pa.C2paSigningAlg.ES256, "es384": c2pa.C2paSigningAlg.ES384,
            "ps256": c2pa.C2paSigningAlg.PS256, "ed25519": c2pa.C2paSigningAlg.ED25519}[alg]


def _signer(c2pa: Any, identity: SigningIdentity, failures: list[Exception]) -> Any:
    """A c2pa Signer for `identity`. Made per call: it costs ~0.25 ms, and a cached native signer would
    have to be guarded against forks (prefork workers) and threads for no measurable gain."""
    alg = _c2pa_alg(c2pa, identity.alg)
    if identity.sign is None:
        if identity.key_pem is None:  # SigningIdentity guarantees one of the two; never sign with nothing
            raise CredentialError("signing_failed", "The signing identity has neither a key nor a callback.")
        info = c2pa.C2paSignerInfo(alg, identity.chain_pem.encode(), identity.key_pem.encode(), identity.tsa_url)
        return c2pa.Signer.from_info(info)
    sign = identity.sign

    def callback(payload: bytes) -> bytes:
        # c2pa swallows callback exceptions into "COSE signature invalid"; keep ours to re-raise them.
        try:
            signature = sign(payload)
            if not isinstance(signature, bytes) or not signature:
                raise TypeError(f"sign callback returned {type(signature).__name__}, not signature bytes")
            return signature
        except Exception as exc:
            failures.append(exc)
            raise

    return c2pa.Signer.from_callback(callback, alg, identity.chain_pem, identity.tsa_url)


def _sign_error(exc: Exception, failures: Sequence[Exception], media_type: str) -> CredentialError:
    if failures:
        return CredentialError("signing_failed", f"The signing key failed: {failures[0]!r}.",
                               details={"error": repr(failures[0])})
    kind = type(exc).__name__.lstrip("_").removeprefix("C2pa")
    # c2pa reports an asset it cannot parse as Other ("asset could not be parsed: Invalid RIFF format").
    if kind in ("Io", "NotSupported", "Decoding") or (kind == "Other" and "could not be parsed" in str(exc)):
        return CredentialError("c2pa_unreadable", f"The file could not be read as {media_type}: {exc}.",
                               details={"media_type": media_type, "error": kind})
    if kind == "Signature" or "signingCredential" in str(exc):  # c2pa validates what it signed
        return CredentialError("signing_failed", f"The signing credential was refused: {exc}.",
                               details={"error": kind})
    if kind in ("Verify", "Json", "Assertion", "ResourceNotFound", "Manifest", "Encoding"):
        return CredentialError("manifest_rejected", f"c2pa rejected the manifest: {exc}.", details={"error": kind})
    return CredentialError("signing_failed", f"Signing failed: {exc}.", details={"error": kind})


def sign(data: bytes, media_type: str, manifest: Mapping[str, Any], identity: SigningIdentity, *,
         max_bytes: int = MAX_MANIFEST_BYTES) -> Signed:
    """`data` (a `media_type` file) with `manifest` (from :func:`build_manifest`) signed and embedded.

    A fresh ``urn:c2pa:<uuid>`` label is assigned unless the manifest has one. Sign last: any later edit of
    the file invalidates it. Raises CredentialError ``c2pa_unsupported_format``, ``c2pa_unreadable``,
    ``manifest_too_large``, ``manifest_rejected`` or ``signing_failed``.
    """
    import c2pa

    media = normalize_media_type(media_type)
    if media not in c2pa.Builder.get_supported_mime_types():
        raise CredentialError("c2pa_unsupported_format", f"Cannot sign {media_type!r} files.",
                              details={"media_type": media_type})
    definition = dict(manifest)
    label = definition.get("label") or f"urn:c2pa:{uuid.uuid4()}"
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise CredentialError("manifest_rejected", f"Manifest label {label!r} is not urn:c2pa:<uuid>.",
                              details={"label": repr(label)})
    definition["label"] = label
    definition["format"] = media
    encoded, resources = _encoded(definition, max_bytes)
    failures: list[Exception] = []
    destination = io.BytesIO()
    try:
        with (_signer(c2pa, identity, failures) as signer,
              c2pa.Context.from_dict({"verify": dict(_OFFLINE)}) as context,
              c2pa.Builder(encoded.decode(), context) as builder):
            for identifier, content in resources.items():
                builder.add_resource(identifier, io.BytesIO(content))
            store = builder.sign(signer, media, io.BytesIO(data), destination)
    except c2pa.C2paError as exc:
        raise _sign_error(exc, failures, media) from (failures[0] if failures else exc)
    if failures:  # the callback failed yet c2pa produced a file: never ship that
        raise _sign_error(RuntimeError("callback failed"), failures, media)
    if label.encode() not in store:
        raise CredentialError("signing_failed", "The signed manifest store does not carry the assigned label.",
                              details={"label": label})
    return Signed(data=destination.getvalue(), manifest_id=label, manifest_store=store, media_type=media)


# --- reading -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CredentialReport:
    """What an asset's Content Credentials say and whether they hold up.

    `state`: Trusted (chains to an anchor), Valid (intact, signer not trusted), Invalid, Absent (no manifest).
    `codes` are the validation failure codes of the active manifest (e.g. assertion.dataHash.mismatch,
    signingCredential.untrusted). `assertions` maps labels as stored (``c2pa.actions.v2``) to parsed data;
    `ingredient_data` maps an ingredient's label to its embedded data (the prompt text).
    """

    state: str
    media_type: str
    codes: tuple[str, ...] = ()
    manifest_id: str | None = None
    title: str | None = None
    claim_generator: tuple[Mapping[str, Any], ...] = ()
    assertions: Mapping[str, Any] = field(default_factory=dict)
    ingredients: tuple[Mapping[str, Any], ...] = ()
    ingredient_data: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    signer_subject: str | None = None
    signer_issuer: str | None = None
    signature_alg: str | None = None
    signed_at: str | None = None
    remote_url: str | None = None

    @property
    def validation_codes(self) -> tuple[str, ...]:
        """Alias of `codes`."""
        return self.codes

    def assertion(self, label: str) -> Any:
        """Data of the first assertion with base label `label` (``c2pa.actions`` finds ``c2pa.actions.v2``)."""
        for stored, data in self.assertions.items():
            if _base_label(stored) == label:
                return data
        return None

    def summary(self) -> dict[str, Any]:
        """A compact JSON-able view: title, created, generator, model, training-mining, soft binding, custom."""
        actions = _obj(self.assertion("c2pa.actions")).get("actions")
        created = next((_obj(a) for a in (actions if isinstance(actions, list) else [])
                        if _obj(a).get("action") == "c2pa.created"), {})
        agent = _obj(created.get("softwareAgent"))
        generator = _obj(self.claim_generator[0]) if self.claim_generator else {}
        binding = _obj(self.assertion("c2pa.soft-binding"))
        blocks = binding.get("blocks")
        block = _obj(blocks[0]) if isinstance(blocks, list) and blocks else {}
        timespan = _obj(_obj(block.get("scope")).get("timespan"))
        return {
            "state": self.state,
            "manifest_id": self.manifest_id,
            "title": self.title,
            "created": created.get("when"),
            "digital_source_type": created.get("digitalSourceType"),
            "generator": {"name": generator.get("name"), "version": generator.get("version")} if generator else None,
            "model": agent.get(MODEL_KEY) or self._model_from_ingredients(),
            "training_mining": self.training_mining(),
            "soft_binding": {"alg": binding.get("alg"), "value": block.get("value"), "start_ms": timespan.get("start"),
                             "end_ms": timespan.get("end")} if binding else None,
            "custom": {label.removeprefix(LABEL_PREFIX): data for label, data in self.assertions.items()
                       if label.startswith(LABEL_PREFIX)},
            "signer": self.signer_subject,
            "codes": list(self.codes),
        }

    def _model_from_ingredients(self) -> Any:
        for ingredient in self.ingredients:
            metadata = _obj(ingredient.get("metadata"))
            if MODEL_KEY in metadata:
                return metadata[MODEL_KEY]
        return None

    def training_mining(self) -> dict[str, str]:
        """Use -> choice from cawg.training-mining and c2pa.training-mining; when they differ, any disallow wins."""
        result: dict[str, str] = {}
        for prefix in ("cawg", "c2pa"):
            for key, entry in _obj(_obj(self.assertion(f"{prefix}.training-mining")).get("entries")).items():
                use = key.partition(".")[2] if key.startswith(prefix + ".") else key
                choice = _obj(entry).get("use")
                if isinstance(choice, str) and result.get(use, "allowed") == "allowed":
                    result[use] = choice
        return result


def _obj(value: object) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else {} (manifests come from anyone: never trust their shape)."""
    return value if isinstance(value, Mapping) else {}


def _base_label(label: str) -> str:
    """``c2pa.actions.v2__1`` -> ``c2pa.actions`` (instance and version suffixes dropped)."""
    return re.sub(r"(\.v\d+)?(__\d+)?$", "", label)


def _dn(name: object) -> str | None:
    if isinstance(name, Mapping):
        return ", ".join(f"{k}={v}" for k, v in name.items())
    return None


def _certificate_info(reader: Any, label: str) -> Mapping[str, Any]:
    """Subject/issuer of the active manifest's signer from c2pa's crJSON view ({} if it is unavailable)."""
    try:
        for manifest in json.loads(reader.crjson()).get("manifests") or []:
            if manifest.get("label") == label:
                info = (manifest.get("signature") or {}).get("certificateInfo")
                return info if isinstance(info, Mapping) else {}
    except Exception:  # noqa: S110 - crJSON is an extra view; the report stands without it
        pass
    return {}


def _report(c2pa: Any, reader: Any, media_type: str) -> CredentialReport:
    store = json.loads(reader.json())
    label = store.get("active_manifest")
    manifest = _obj(store.get("manifests")).get(label) if isinstance(label, str) else None
    if not isinstance(manifest, Mapping):
        return CredentialReport(state="Absent", media_type=media_type)
    results = _obj(_obj(store.get("validation_results")).get("activeManifest"))
    failures = results.get("failure")
    if failures is None:  # older layout
        failures = store.get("validation_status") or []
    codes = tuple(dict.fromkeys(str(f.get("code")) for f in failures if isinstance(f, Mapping)))
    state = store.get("validation_state")
    if state not in STATES:
        state = "Invalid" if codes else "Valid"
    assertions = {str(a.get("label")): a.get("data") for a in manifest.get("assertions") or []
                  if isinstance(a, Mapping)}
    ingredients = tuple(i for i in manifest.get("ingredients") or [] if isinstance(i, Mapping))
    ingredient_data: dict[str, bytes] = {}
    for ingredient in ingredients:
        identifier = _obj(ingredient.get("data")).get("identifier")
        if isinstance(identifier, str):
            buffer = io.BytesIO()
            try:
                reader.resource_to_stream(identifier, buffer)
            except c2pa.C2paError:
                continue
            ingredient_data[str(ingredient.get("label"))] = buffer.getvalue()
    signature = _obj(manifest.get("signature_info"))
    certificate = _certificate_info(reader, label)
    return CredentialReport(
        state=state, media_type=media_type, codes=codes, manifest_id=label, title=manifest.get("title"),
        claim_generator=tuple(manifest.get("claim_generator_info") or ()), assertions=assertions,
        ingredients=ingredients, ingredient_data=ingredient_data,
        signer_subject=_dn(certificate.get("subject")) or signature.get("common_name"),
        signer_issuer=_dn(certificate.get("issuer")) or signature.get("issuer"),
        signature_alg=str(signature["alg"]).lower() if signature.get("alg") else None, signed_at=signature.get("time"),
    )


def _read(data: bytes, media_type: str, trust_anchors_pem: str | None, manifest_store: bytes | None) -> \
        CredentialReport:
    import c2pa

    media = normalize_media_type(media_type)
    if media not in c2pa.Reader.get_supported_mime_types():
        raise CredentialError("c2pa_unsupported_format", f"Content Credentials cannot be read from {media_type!r} "
                              "files; use WAV, FLAC, MP3 or M4A.", details={"media_type": media_type})
    settings: dict[str, Any] = {"verify": dict(_OFFLINE)}
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    try:
        with c2pa.Context.from_dict(settings) as context:
            try:
                reader = c2pa.Reader(media, io.BytesIO(data), manifest_store, context)
            except c2pa.C2paError.ManifestNotFound:
                return CredentialReport(state="Absent", media_type=media)
            except c2pa.C2paError as exc:
                # Only a link to a remote manifest ("Remote: must fetch remote manifests from url ..."), which we
                # never fetch (SSRF, latency): nothing embedded to validate.
                if not (isinstance(exc, c2pa.C2paError.RemoteManifest) or str(exc).startswith("Remote")):
                    raise
                url = _REMOTE_URL.search(str(exc))
                return CredentialReport(state="Absent", media_type=media, remote_url=url.group(1) if url else None)
            with reader:
                return _report(c2pa, reader, media)
    except CredentialError:
        raise
    except Exception as exc:  # garbage of any kind must end as our error, never as c2pa's or ctypes'
        kind = type(exc).__name__.lstrip("_").removeprefix("C2pa")
        raise CredentialError("c2pa_unreadable", f"The file could not be read as {media}: {exc}. Check that the "
                              "file and its type match.", details={"media_type": media, "size": len(data),
                                                                   "error": kind}) from None


def read(data: bytes, media_type: str, trust_anchors_pem: str | None) -> CredentialReport:
    """The Content Credentials embedded in `data` (a `media_type` file), validated offline.

    `trust_anchors_pem` (PEM bundle) makes our own outputs Trusted; without it an intact one is Valid with
    ``signingCredential.untrusted``. Raises CredentialError ``c2pa_unsupported_format`` or ``c2pa_unreadable``
    only; a file without a manifest is state Absent.
    """
    return _read(data, media_type, trust_anchors_pem, None)


def read_store(manifest_store: bytes, media_type: str, data: bytes, trust_anchors_pem: str | None = None) -> \
        CredentialReport:
    """A detached manifest store (``application/c2pa``, e.g. from GET /manifests/{id}) validated against `data`.

    The data hash covers the file as signed: for an output signed with the store embedded, that is the signed
    file itself; a stripped or re-encoded copy reads as Invalid (assertion.dataHash.mismatch) while the rest
    of the report (signer, assertions) still shows. Same errors as :func:`read`.
    """
    if not isinstance(manifest_store, bytes) or not manifest_store:
        raise CredentialError("c2pa_unreadable", "The manifest store is empty.", details={"media_type": media_type})
    return _read(data, media_type, trust_anchors_pem, manifest_store)

