"""Asset files of a catalog import: where they come from, their hashes and ISCC codes, and their own rights.

An import names each work's asset by a relative path inside an uploaded ZIP or (for staff) a server-side
directory. For every asset this module computes SHA-256 and the ISCC Data-Code and Instance-Code (ISO 24138,
`iscc-core`), reads the rights the file states about itself (licensing.inband: Humdrum reference records,
ABC comments, MusicXML identification, MIDI copyright events, license files of its directories) and
classifies them (licensing.rights_statements) into a finding and, where the statements grant terms, the
license they amount to. Storage writes are content-addressed, so a retried batch reuses the same blob.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from licensing import inband
from licensing.catalog_format import PUBLIC_DOMAIN, CatalogRow, LicenseTerms, PartyRef
from licensing.prepared import AssetFacts
from licensing.terms import territory_field, uses_mask

MAX_ASSET_BYTES = 200 * 1024 * 1024


class AssetError(Exception):
    """An asset named by a row cannot be used; becomes a row error (code, message) in the import report."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class AssetSource(Protocol):
    """Where a catalog's assets are read from."""

    def read(self, relative: str) -> bytes:
        """The bytes of one asset; raises AssetError when missing or unreadable."""

    def license_files(self, relative: str) -> list[tuple[str, str]]:
        """(relative path, text) of the license files that apply to an asset, nearest directory first."""


def _clean(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise AssetError("invalid_asset_path", f"Asset path {relative!r} must be relative, without '..'.")
    return path


class ZipAssets:
    """Assets inside an uploaded ZIP archive (paths relative to the archive root)."""

    def __init__(self, data: bytes) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise AssetError("invalid_zip", "The assets file is not a ZIP archive.") from exc
        self._names = {info.filename.rstrip("/"): info for info in self._zip.infolist() if not info.is_dir()}
        self._lower = {name.lower(): name for name in self._names}

    def read(self, relative: str) -> bytes:
        name = str(_clean(relative))
        info = self._names.get(name)
        if info is None:
            raise AssetError("asset_missing", f"Asset {relative!r} is not in the ZIP archive.")
        if info.file_size > MAX_ASSET_BYTES:
            raise AssetError("asset_too_large", f"Asset {relative!r} is larger than {MAX_ASSET_BYTES} bytes.")
        return self._zip.read(info)

    def license_files(self, relative: str) -> list[tuple[str, str]]:
        found = []
        for parent in _clean(relative).parents:
            for candidate in sorted(inband.LICENSE_FILE_NAMES):
                name = self._lower.get(str(parent / candidate).removeprefix("./").lower())
                if name is not None:
                    found.append((name, inband.decode_text(self._zip.read(self._names[name]))))
        return found


class DirectoryAssets:
    """Assets in a server-side directory (staff only: the path is on the worker's filesystem)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise AssetError("assets_dir_missing", f"Directory {root} does not exist on the server.")

    def _path(self, relative: str) -> Path:
        path = (self.root / _clean(relative)).resolve()
        if not path.is_relative_to(self.root):
            raise AssetError("invalid_asset_path", f"Asset path {relative!r} leaves the assets directory.")
        return path

    def read(self, relative: str) -> bytes:
        path = self._path(relative)
        if not path.is_file():
            raise AssetError("asset_missing", f"Asset {relative!r} is not in the assets directory.")
        if path.stat().st_size > MAX_ASSET_BYTES:
            raise AssetError("asset_too_large", f"Asset {relative!r} is larger than {MAX_ASSET_BYTES} bytes.")
        return path.read_bytes()

    def license_files(self, relative: str) -> list[tuple[str, str]]:
        return inband.directory_license_files(self._path(relative), self.root)


def iscc_codes(data: bytes) -> tuple[str, str, str]:
    """(Data-Code, Instance-Code, ISCC-CODE) of any bytes, ISO 24138 via iscc-core."""
    import iscc_core

    data_code = iscc_core.gen_data_code_v0(io.BytesIO(data))["iscc"]
    instance_code = iscc_core.gen_instance_code_v0(io.BytesIO(data))["iscc"]
    return data_code, instance_code, iscc_core.gen_iscc_code_v0([data_code, instance_code])["iscc"]


def storage_name(digest: str, relative: str) -> str:
    """Content-addressed storage name of an asset (the extension kept for humans and MIME guessing)."""
    suffix = PurePosixPath(relative).suffix.lower()[:10]
    return f"catalog/assets/{digest[:2]}/{digest}{suffix}"


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, float):
        return str(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


def derived_license(finding: Any) -> LicenseTerms | None:
    """The license a rights finding amounts to (public domain, open license, permission), or None."""
    status = str(finding.status)
    if status not in ("public_domain", "open_license", "permission") or not finding.uses:
        return None
    if status == "public_domain" and not finding.holder:
        licensor = PUBLIC_DOMAIN
    elif finding.holder:
        licensor = PartyRef(name=finding.holder, kind="person")
    else:
        # No holder named: the licensor is whoever issued the statement that decided (e.g. a license file).
        origin = next((s.source for s in finding.statements), "an unnamed statement")
        licensor = PartyRef(name=f"Rights holders per {origin.removeprefix('license_file:')}"[:300],
                            kind="organization")
    name = finding.license_name or status.replace("_", " ")
    basis = {"public_domain": "public_domain", "open_license": "open_license", "permission": "permission"}
    return LicenseTerms(
        ref=f"inband:{name}", licensor=licensor, licensee="", name=f"{name} (stated in the files)",
        basis=basis[status], uses_mask=uses_mask(str(u) for u in finding.uses),
        territories=territory_field(["WORLD"]), excluded_territories="", valid_from=None, valid_until=None,
        attribution=(finding.holder or name) if finding.attribution_required else "", royalty={},
        document=finding.license_name or "", conditions=tuple(finding.conditions), origin="inband",
    )


def _context(row: CatalogRow) -> Any:
    """What the catalog says about a work's repertory beyond its files (optional columns `period`,
    `default_composer`, `source_collection`, `published`): the facts `classify` needs for traditional and
    anonymous works, whose term runs from publication rather than from an author's death."""
    from licensing.reference_corpus import Collection
    from licensing.rights_statements import SourceCollection

    published = str(row.source.get("published", "")).strip()
    name = str(row.source.get("source_collection", "")).strip()
    source = SourceCollection(name, int(published) if published.isdigit() else None) if name else None
    return Collection(period=str(row.source.get("period", "")) or None,
                      composer=str(row.source.get("default_composer", "")) or None, source=source)


def prepare_asset(source: AssetSource, row: CatalogRow, *, as_of_year: int | None = None) -> AssetFacts:
    """Read, hash, fingerprint and classify the asset of one row; store it (content-addressed)."""
    from dataclasses import replace

    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from licensing import reference_corpus, rights_statements

    data = source.read(row.asset)
    try:
        metadata = inband.read(data, filename=PurePosixPath(row.asset).name)
    except inband.InbandError as exc:
        raise AssetError(exc.code, f"Asset {row.asset!r} cannot be read: {exc.message}") from exc
    digest = hashlib.sha256(data).hexdigest()
    data_code, instance_code, iscc_code = iscc_codes(data)
    name = storage_name(digest, row.asset)
    if not default_storage.exists(name):
        default_storage.save(name, ContentFile(data))

    statements = list(metadata.statements) + [
        inband.RightsStatement(source=f"license_file:{path}", text=text)
        for path, text in source.license_files(row.asset)
    ]
    if not metadata.creators and row.creators:  # the catalog credits what the file does not
        metadata = replace(metadata, creators=tuple(inband.Creator(ref.name, role) for ref, role in row.creators))
    authorship = reference_corpus.authorship_of(metadata, _context(row))
    finding = rights_statements.classify(statements, composer_death_year=authorship.death_year,
                                         as_of_year=as_of_year or datetime.now(UTC).year,
                                         collection=authorship.collection)
    creators = tuple((PartyRef(name=c.name[:300]), c.role.replace(" ", "_")[:40])
                     for c in metadata.creators if c.name.strip())
    holder = PartyRef(name=finding.holder[:300], kind="organization") if finding.holder else None
    found = finding.to_dict()
    return AssetFacts(
        storage_name=name, sha256=digest, size=len(data), iscc_data=data_code, iscc_instance=instance_code,
        iscc_code=iscc_code, rights_status=str(finding.status), derived_license=derived_license(finding),
        creators=creators, rights_holder=holder,
        inband=_json_safe({
            "format": metadata.format, "title": metadata.title,
            "creators": [[c.name, c.role] for c in metadata.creators],
            "composer_dates": list(metadata.composer_dates), "style_hints": metadata.style_hints,
            "fields": metadata.fields, "statements": [{"source": s.source, "text": s.text} for s in statements],
            "finding": found,
        }),
    )


def open_source(*, zip_data: bytes | None, directory: str) -> AssetSource | None:
    """The asset source of an import: its ZIP, its server directory, or none."""
    if zip_data:
        return ZipAssets(zip_data)
    if directory:
        return DirectoryAssets(directory)
    return None
