"""The catalog file format (CSV or JSON Lines): parsing and validation of rows, pure and Django-free.

One row = one work. Columns (JSON Lines: the same keys; lists may be JSON arrays instead of "; " strings):

=============================  ==========================================================================
work_id (required)             the catalog's own id of the work; with the collection, the natural key
title (required)               title of the work
creators                       "role:Name; role:Name" (composer, lyricist, arranger, encoder, ...);
                               JSON: [{"name": ..., "role": ..., "ipi": ..., "isni": ...}]
iswc, isrc, catalog_number,    identifiers (ISWC and ISRC are checked, ISWC with its check digit)
url
identifiers                    more identifiers: "scheme:value; ns:<namespace>:value"
media_type, format             symbolic | audio | other; humdrum, abc, musicxml, midi, wav, ...
asset                          path of the asset inside the uploaded ZIP (or the server directory)
style_tags                     "composer:bach; period:baroque; genre:chorale"
rights_holder                  name of the party holding the rights (+ rights_holder_ipi, _isni, _kind)
license_ref                    a license the row's work is covered by; rows sharing a ref share a license
licensor                       defaults to rights_holder
licensee                       organization slug; defaults to the platform operator
license_name                   display name
license_basis                  agreement | public_domain | open_license | permission (default agreement)
license_uses                   "ai_training; style_reference; derivative_generation; commercial_output;
                               non_commercial_output"
license_territories            ISO 3166-1 alpha-2 codes or WORLD (default WORLD)
license_excluded_territories   codes excluded from the above
license_valid_from/_until      ISO 8601 date or date-time (UTC if no offset); until is exclusive
license_attribution            attribution text; non-empty means attribution is required
license_royalty                "per_output:0.50 EUR" or "revenue_share:2.5%" (JSON: an object)
license_document               contract reference, URL or SPDX id of the terms
=============================  ==========================================================================

Any other column is kept verbatim in the work's source metadata. Every problem is reported as a
`RowError(row, column, code, message)`; a row with any error is rejected whole.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from licensing.terms import Use, normalize_name, territory_field, uses_mask

MAX_FIELD = 10_000
KNOWN_COLUMNS = frozenset({
    "work_id", "title", "creators", "iswc", "isrc", "catalog_number", "url", "identifiers", "media_type", "format",
    "asset", "style_tags", "rights_holder", "rights_holder_ipi", "rights_holder_isni", "rights_holder_kind",
    "license_ref", "licensor", "licensee", "license_name", "license_basis", "license_uses", "license_territories",
    "license_excluded_territories", "license_valid_from", "license_valid_until", "license_attribution",
    "license_royalty", "license_document",
})
MEDIA_TYPES = ("symbolic", "audio", "other")
BASES = ("agreement", "public_domain", "open_license", "permission")
PARTY_KINDS = ("person", "organization")
IDENTIFIER_SCHEMES = ("iswc", "isrc", "catalog_number", "url")
_FORMAT_MEDIA = {"humdrum": "symbolic", "kern": "symbolic", "abc": "symbolic", "musicxml": "symbolic",
                 "mxl": "symbolic", "midi": "symbolic", "romantext": "symbolic", "wav": "audio", "flac": "audio",
                 "mp3": "audio", "aac": "audio", "m4a": "audio", "ogg": "audio"}
_ISWC = re.compile(r"^T-?(\d{3})\.?(\d{3})\.?(\d{3})-?(\d)$")
_ISRC = re.compile(r"^[A-Z]{2}-?[A-Z0-9]{3}-?\d{2}-?\d{5}$")
_IPI = re.compile(r"^\d{9,11}$")
_ISNI = re.compile(r"^\d{15}[\dX]$")
_SCHEME = re.compile(r"^(ns:[a-z0-9][a-z0-9._-]{0,40}|[a-z][a-z0-9_]{1,39})$")
_TAG = re.compile(r"^[a-z][a-z0-9_]{0,39}:\S.{0,150}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")


@dataclass(frozen=True)
class RowError:
    """One problem with one row (1-based data row number; the CSV header is not counted)."""

    row: int
    column: str
    code: str
    message: str


@dataclass(frozen=True)
class PartyRef:
    """A party as named in a row; `key` is its natural key."""

    name: str
    kind: str = "person"
    ipi: str = ""
    isni: str = ""

    @functools.cached_property
    def key(self) -> str:
        """Natural key: IPI, else ISNI, else the normalized name (computed once per reference)."""
        if self.ipi:
            return f"ipi:{self.ipi}"
        if self.isni:
            return f"isni:{self.isni}"
        return f"name:{normalize_name(self.name)}"


@dataclass(frozen=True)
class LicenseTerms:
    """License columns of a row; rows with the same `ref` must carry identical terms."""

    ref: str
    licensor: PartyRef
    licensee: str  # organization slug, "" = operator
    name: str
    basis: str
    uses_mask: int
    territories: str
    excluded_territories: str
    valid_from: datetime | None
    valid_until: datetime | None
    attribution: str
    royalty: Mapping[str, str]
    document: str
    conditions: tuple[str, ...] = ()  # e.g. ("share_alike",) for licenses read from in-band statements
    origin: str = ""  # where the terms came from when not from the row itself (e.g. "inband")

    def signature(self) -> tuple[Any, ...]:
        """Everything that must agree between rows naming the same license."""
        return (self.licensor.key, self.licensee, self.name, self.basis, self.uses_mask, self.territories,
                self.excluded_territories, self.valid_from, self.valid_until, self.attribution,
                tuple(sorted(self.royalty.items())), self.document, self.conditions)


@dataclass(frozen=True)
class CatalogRow:
    """A valid row: one work, its creators, identifiers, tags, rights holder and (optionally) a license."""

    row: int
    work_id: str
    title: str
    creators: tuple[tuple[PartyRef, str], ...]  # (party, role)
    identifiers: tuple[tuple[str, str], ...]  # (scheme, value)
    media_type: str
    format: str
    asset: str
    style_tags: tuple[str, ...]
    rights_holder: PartyRef | None
    license: LicenseTerms | None
    source: Mapping[str, Any] = field(default_factory=dict)


# The licensor of licenses whose basis is the public domain.
PUBLIC_DOMAIN = PartyRef(name="Public domain", kind="organization")


class CatalogFileError(ValueError):
    """The file as a whole cannot be read (encoding, header, not JSON Lines)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- Reading ----------------------------------------------------------------------------------------------------


def read_records(data: bytes, file_format: str) -> Iterator[tuple[int, Mapping[str, Any] | RowError]]:
    """Yield (row number, raw record) for each data row; a line that is not a JSON object yields a RowError."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogFileError("not_utf8", f"The catalog file is not UTF-8 (byte {exc.start}).") from exc
    if file_format == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        if "work_id" not in header or "title" not in header:
            raise CatalogFileError("missing_header",
                                   "The CSV header must name at least the columns work_id and title.")
        duplicates = sorted({h for h in header if header.count(h) > 1})
        if duplicates:
            raise CatalogFileError("duplicate_column", f"Columns named twice: {', '.join(duplicates)}.")
        for number, record in enumerate(reader, start=1):
            if None in record:
                yield number, RowError(number, "", "extra_fields", "The row has more fields than the header.")
            else:
                yield number, record
    elif file_format == "jsonl":
        number = 0
        for line in text.splitlines():
            if not line.strip():
                continue
            number += 1
            try:
                record = json.loads(line, parse_float=Decimal, parse_constant=_no_constant)
            except json.JSONDecodeError as exc:
                yield number, RowError(number, "", "invalid_json", f"Not valid JSON: {exc.msg} at column {exc.colno}.")
                continue
            except _NonStandardNumber as exc:
                yield number, RowError(number, "", "invalid_json", f"Not valid JSON: {exc} is not a JSON number.")
                continue
            if not isinstance(record, dict):
                yield number, RowError(number, "", "invalid_json", "Each line must be a JSON object.")
                continue
            yield number, record
    else:
        raise CatalogFileError("unknown_format", "The catalog format must be csv or jsonl.")


class _NonStandardNumber(ValueError):
    """NaN, Infinity or -Infinity: Python's json accepts them, JSON (RFC 8259) does not."""


def _no_constant(name: str) -> Any:
    raise _NonStandardNumber(name)


def count_records(data: bytes, file_format: str) -> int:
    """Number of data rows (for progress), without validating them."""
    return sum(1 for _ in read_records(data, file_format))


# --- Validation ---------------------------------------------------------------------------------------------------


class _Row:
    """Collects errors while one record is parsed."""

    def __init__(self, number: int, record: Mapping[str, Any]) -> None:
        self.number = number
        self.record = record
        self.errors: list[RowError] = []

    def fail(self, column: str, code: str, message: str) -> None:
        self.errors.append(RowError(self.number, column, code, message))

    def text(self, column: str, *, required: bool = False, max_length: int = 500) -> str:
        value = self.record.get(column)
        if value is None:
            value = ""
        if not isinstance(value, str):
            if isinstance(value, int | Decimal) and not isinstance(value, bool):
                value = str(value)
            else:
                self.fail(column, "invalid_type", f"{column} must be a string.")
                return ""
        value = value.strip()
        if required and not value:
            self.fail(column, "required", f"{column} is required.")
        if len(value) > max_length:
            self.fail(column, "too_long", f"{column} is longer than {max_length} characters.")
            return value[:max_length]
        return value

    def items(self, column: str) -> list[Any]:
        """A list column: JSON array, or a "; "-separated string."""
        value = self.record.get(column)
        if value is None or value == "":
            return []
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            return [part.strip() for part in value.split(";") if part.strip()]
        self.fail(column, "invalid_type", f"{column} must be a list or a '; '-separated string.")
        return []


def _iswc_ok(value: str) -> str | None:
    """Canonical ISWC "T-123.456.789-C" if the check digit is right, else None."""
    match = _ISWC.match(value.upper())
    if not match:
        return None
    digits = "".join(match.group(i) for i in (1, 2, 3))
    total = 1 + sum((i + 1) * int(d) for i, d in enumerate(digits))
    check = (10 - total % 10) % 10
    if check != int(match.group(4)):
        return None
    return f"T-{match.group(1)}.{match.group(2)}.{match.group(3)}-{check}"


def _isni_ok(value: str) -> bool:
    """ISNI check character (ISO 27729, MOD 11-2)."""
    if not _ISNI.match(value):
        return False
    total = 0
    for ch in value[:-1]:
        total = (total + int(ch)) * 2
    check = (12 - total % 11) % 11
    return value[-1] == ("X" if check == 10 else str(check))


def _party(row: _Row, prefix: str, name: str) -> PartyRef | None:
    if not name:
        return None
    ipi = row.text(f"{prefix}_ipi", max_length=20).replace(" ", "") if prefix else ""
    isni = row.text(f"{prefix}_isni", max_length=24).replace(" ", "").upper() if prefix else ""
    kind = (row.text(f"{prefix}_kind", max_length=20) if prefix else "") or "person"
    if ipi and not _IPI.match(ipi):
        row.fail(f"{prefix}_ipi", "invalid_ipi", "An IPI name number has 9 to 11 digits.")
        ipi = ""
    if isni and not _isni_ok(isni):
        row.fail(f"{prefix}_isni", "invalid_isni", "Not a valid ISNI (16 characters with its check character).")
        isni = ""
    if kind not in PARTY_KINDS:
        row.fail(f"{prefix}_kind", "invalid_choice", f"{prefix}_kind must be one of {', '.join(PARTY_KINDS)}.")
        kind = "person"
    return PartyRef(name=name, kind=kind, ipi=ipi, isni=isni)


def _when(row: _Row, column: str) -> datetime | None:
    value = row.text(column, max_length=40)
    if not value:
        return None
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        row.fail(column, "invalid_date", f"{column} must be an ISO 8601 date or date-time.")
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _royalty(row: _Row) -> dict[str, str]:
    value = row.record.get("license_royalty")
    if value in (None, ""):
        return {}
    if isinstance(value, dict):
        terms = {str(k): str(v) for k, v in value.items()}
    elif isinstance(value, str):
        model, _, rest = value.strip().partition(":")
        terms = {"model": model.strip()}
        if model.strip() == "per_output":
            amount, _, currency = rest.strip().partition(" ")
            terms.update(amount=amount, currency=currency.strip().upper())
        elif model.strip() == "revenue_share":
            terms["percent"] = rest.strip().rstrip("%").strip()
    else:
        row.fail("license_royalty", "invalid_type", "license_royalty must be a string or an object.")
        return {}
    model = terms.get("model", "")
    try:
        if model == "per_output":
            if Decimal(terms.get("amount", "")) < 0 or not re.fullmatch(r"[A-Z]{3}", terms.get("currency", "")):
                raise InvalidOperation
        elif model == "revenue_share":
            if not Decimal(0) <= Decimal(terms.get("percent", "")) <= Decimal(100):
                raise InvalidOperation
        else:
            raise InvalidOperation
    except InvalidOperation:
        row.fail("license_royalty", "invalid_royalty",
                 "license_royalty must be 'per_output:<amount> <ISO 4217 currency>' or 'revenue_share:<percent>%'.")
        return {}
    return terms


_LICENSE_COLUMNS = tuple(c for c in KNOWN_COLUMNS if c.startswith("license_") or c in ("licensor", "licensee"))
# Catalogs repeat one license's columns on every row it covers: parsed terms are reused for identical columns
# (and rights holder). Only error-free results are kept, so every bad row still reports its own errors.
_LICENSE_CACHE: dict[tuple[Any, ...], LicenseTerms] = {}
_LICENSE_CACHE_SIZE = 4096


def _license(row: _Row, rights_holder: PartyRef | None) -> LicenseTerms | None:
    try:
        key: tuple[Any, ...] | None = (rights_holder, *(row.record.get(c) for c in _LICENSE_COLUMNS))
        cached = _LICENSE_CACHE.get(key)  # type: ignore[arg-type]
    except TypeError:  # an unhashable value (a JSON object or list): parse it afresh
        key = cached = None
    if cached is not None:
        return cached
    errors = len(row.errors)
    terms = _parse_license(row, rights_holder)
    if key is not None and terms is not None and len(row.errors) == errors:
        if len(_LICENSE_CACHE) >= _LICENSE_CACHE_SIZE:
            _LICENSE_CACHE.clear()
        _LICENSE_CACHE[key] = terms
    return terms


def _parse_license(row: _Row, rights_holder: PartyRef | None) -> LicenseTerms | None:
    ref = row.text("license_ref", max_length=200)
    license_columns = _LICENSE_COLUMNS
    if not ref:
        stray = sorted(c for c in license_columns if c != "license_ref" and row.record.get(c) not in (None, ""))
        if stray:
            row.fail(stray[0], "license_ref_required", "License columns are set but license_ref is empty.")
        return None
    licensor = _party(row, "", row.text("licensor", max_length=300)) or rights_holder
    if licensor is None:
        row.fail("licensor", "required", "A license needs a licensor (or a rights_holder to default to).")
        return None
    basis = row.text("license_basis", max_length=20) or "agreement"
    if basis not in BASES:
        row.fail("license_basis", "invalid_choice", f"license_basis must be one of {', '.join(BASES)}.")
    uses = row.items("license_uses")
    mask = 0
    if not uses:
        row.fail("license_uses", "required", f"license_uses must name at least one of {', '.join(Use)}.")
    else:
        try:
            mask = uses_mask(str(u) for u in uses)
        except ValueError as exc:
            row.fail("license_uses", "unknown_use", str(exc).capitalize() + ".")
    territories = excluded = ""
    try:
        territories = territory_field(str(t) for t in (row.items("license_territories") or ["WORLD"]))
    except ValueError as exc:
        row.fail("license_territories", "invalid_territory", str(exc).capitalize() + ".")
    try:
        excluded = territory_field(str(t) for t in row.items("license_excluded_territories"))
    except ValueError as exc:
        row.fail("license_excluded_territories", "invalid_territory", str(exc).capitalize() + ".")
    if "|WORLD|" in excluded:
        row.fail("license_excluded_territories", "invalid_territory", "WORLD cannot be excluded.")
    valid_from, valid_until = _when(row, "license_valid_from"), _when(row, "license_valid_until")
    if valid_from and valid_until and valid_until <= valid_from:
        row.fail("license_valid_until", "invalid_period", "license_valid_until must be after license_valid_from.")
    licensee = row.text("licensee", max_length=80)
    if licensee and not _SLUG.match(licensee):
        row.fail("licensee", "invalid_licensee", "licensee must be an organization slug.")
    return LicenseTerms(
        ref=ref, licensor=licensor, licensee=licensee, name=row.text("license_name", max_length=300), basis=basis,
        uses_mask=mask, territories=territories, excluded_territories=excluded, valid_from=valid_from,
        valid_until=valid_until, attribution=row.text("license_attribution"), royalty=_royalty(row),
        document=row.text("license_document"),
    )


def _json_safe(value: Any) -> Any:
    """Source metadata kept verbatim, with JSON numbers as strings (the ledger refuses floats)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


def parse_row(number: int, record: Mapping[str, Any]) -> CatalogRow | list[RowError]:
    """Validate one raw record: a CatalogRow, or every error found in it."""
    row = _Row(number, record)
    for column, value in record.items():
        if isinstance(value, str) and len(value) > MAX_FIELD:
            row.fail(str(column), "too_long", f"{column} is longer than {MAX_FIELD} characters.")
    work_id = row.text("work_id", required=True, max_length=300)
    title = row.text("title", required=True)

    creators: list[tuple[PartyRef, str]] = []
    for item in row.items("creators"):
        if isinstance(item, dict):
            name, role = str(item.get("name", "")).strip(), str(item.get("role", "composer")).strip()
            ipi, isni = str(item.get("ipi", "") or "").strip(), str(item.get("isni", "") or "").upper().strip()
        elif isinstance(item, str):
            role, sep, name = item.partition(":")
            role, name = (role.strip(), name.strip()) if sep else ("composer", item.strip())
            ipi = isni = ""
        else:
            row.fail("creators", "invalid_type", "Each creator must be 'role:Name' or an object.")
            continue
        if not name or not re.fullmatch(r"[a-z][a-z_ ]{1,39}", role):
            row.fail("creators", "invalid_creator", f"Creator {item!r} needs a name and a role such as composer.")
            continue
        if ipi and not _IPI.match(ipi):
            row.fail("creators", "invalid_ipi", f"Creator {name!r}: an IPI name number has 9 to 11 digits.")
            ipi = ""
        if isni and not _isni_ok(isni):
            row.fail("creators", "invalid_isni", f"Creator {name!r}: not a valid ISNI.")
            isni = ""
        creators.append((PartyRef(name=name[:300], ipi=ipi, isni=isni), role.replace(" ", "_")))

    identifiers: list[tuple[str, str]] = []
    iswc = row.text("iswc", max_length=20)
    if iswc:
        canonical = _iswc_ok(iswc)
        if canonical is None:
            row.fail("iswc", "invalid_iswc", "Not a valid ISWC (T-123.456.789-C with a correct check digit).")
        else:
            identifiers.append(("iswc", canonical))
    isrc = row.text("isrc", max_length=20).upper()
    if isrc:
        if not _ISRC.match(isrc):
            row.fail("isrc", "invalid_isrc", "Not a valid ISRC (CC-XXX-YY-NNNNN).")
        else:
            identifiers.append(("isrc", isrc.replace("-", "")))
    for scheme in ("catalog_number", "url"):
        value = row.text(scheme)
        if value:
            identifiers.append((scheme, value))
    for item in row.items("identifiers"):
        scheme, sep, value = str(item).rpartition(":") if str(item).startswith("ns:") else str(item).partition(":")
        if not sep or not value.strip() or not _SCHEME.match(scheme.strip()):
            row.fail("identifiers", "invalid_identifier",
                     f"Identifier {item!r} must be 'scheme:value' (proprietary: 'ns:<namespace>:value').")
            continue
        identifiers.append((scheme.strip(), value.strip()))

    fmt = row.text("format", max_length=40).lower()
    media_type = row.text("media_type", max_length=16).lower() or _FORMAT_MEDIA.get(fmt, "other")
    if media_type not in MEDIA_TYPES:
        row.fail("media_type", "invalid_choice", f"media_type must be one of {', '.join(MEDIA_TYPES)}.")
    asset = row.text("asset", max_length=300)
    if asset and (asset.startswith(("/", "\\")) or ".." in asset.replace("\\", "/").split("/")):
        row.fail("asset", "invalid_asset_path", "asset must be a relative path without '..'.")

    tags: list[str] = []
    for item in row.items("style_tags"):
        tag = str(item).strip().lower()
        if not _TAG.match(tag):
            row.fail("style_tags", "invalid_tag", f"Style tag {item!r} must look like kind:value (period:baroque).")
        else:
            tags.append(tag)

    holder = _party(row, "rights_holder", row.text("rights_holder", max_length=300))
    terms = _license(row, holder)
    if row.errors:
        return row.errors
    source = {str(k): _json_safe(v) for k, v in record.items() if v not in (None, "")}
    return CatalogRow(row=number, work_id=work_id, title=title, creators=tuple(creators),
                      identifiers=tuple(dict.fromkeys(identifiers)), media_type=media_type, format=fmt,
                      asset=asset, style_tags=tuple(sorted(set(tags))), rights_holder=holder, license=terms,
                      source=source)


def parse(data: bytes, file_format: str) -> Iterator[CatalogRow | list[RowError]]:
    """Parse and validate a whole file, including cross-row rules (duplicate ids, conflicting licenses)."""
    seen: dict[str, int] = {}
    licenses: dict[str, tuple[int, tuple[Any, ...]]] = {}
    for number, record in read_records(data, file_format):
        if isinstance(record, RowError):
            yield [record]
            continue
        parsed = parse_row(number, record)
        if isinstance(parsed, list):
            yield parsed
            continue
        errors: list[RowError] = []
        if parsed.work_id in seen:
            errors.append(RowError(number, "work_id", "duplicate_work_id",
                                   f"work_id {parsed.work_id!r} already appears in row {seen[parsed.work_id]}."))
        if parsed.license is not None:
            first = licenses.setdefault(parsed.license.ref, (number, parsed.license.signature()))
            if first[1] != parsed.license.signature():
                errors.append(RowError(number, "license_ref", "license_conflict",
                                       f"license_ref {parsed.license.ref!r} has different terms in row {first[0]}."))
        if errors:
            yield errors
            continue
        seen[parsed.work_id] = number
        yield parsed
