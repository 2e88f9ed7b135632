"""A catalog row ready to apply: the validated row plus what was learned from its asset file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from licensing.catalog_format import CatalogRow, LicenseTerms, PartyRef


@dataclass(frozen=True)
class AssetFacts:
    """Hashes, ISCC codes and in-band metadata/rights of one asset file, and where it is stored."""

    storage_name: str
    sha256: str
    size: int
    iscc_data: str
    iscc_instance: str
    iscc_code: str
    inband: dict[str, Any] = field(default_factory=dict)  # JSON-safe: metadata and the rights finding
    rights_status: str = ""
    derived_license: LicenseTerms | None = None  # terms the asset's own statements grant, if any
    creators: tuple[tuple[PartyRef, str], ...] = ()  # credited in-band (used when the row names none)
    rights_holder: PartyRef | None = None  # copyright holder named in-band


@dataclass(frozen=True)
class PreparedRow:
    """A valid catalog row and its asset facts (None when the row has no asset)."""

    row: CatalogRow
    asset: AssetFacts | None = None
