"""Serializers of the catalog API: parties, collections, works, licenses, opt-outs, imports, evaluation."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from licensing import importer
from licensing.models import (
    CatalogImport,
    Collection,
    License,
    LicenseScope,
    OptOut,
    Party,
    PartyKind,
    Work,
)
from licensing.terms import ReservedUse, SubjectKind, Use, reserved_of, territories_of, uses_of


class PartySerializer(serializers.ModelSerializer):
    """A party; `key` is its natural key (ipi:..., isni:..., name:...)."""

    class Meta:
        model = Party
        fields = ["id", "key", "name", "kind", "ipi", "isni", "identifiers", "organization", "created_at",
                  "ledger_index"]
        read_only_fields = ["id", "key", "created_at", "ledger_index"]


class PartyCreateSerializer(serializers.Serializer):
    """Register a party."""

    name = serializers.CharField(max_length=300)
    kind = serializers.ChoiceField(choices=[PartyKind.PERSON, PartyKind.ORGANIZATION], default=PartyKind.PERSON)
    ipi = serializers.RegexField(r"^\d{9,11}$", required=False, allow_blank=True, default="")
    isni = serializers.RegexField(r"^\d{15}[\dX]$", required=False, allow_blank=True, default="")
    identifiers = serializers.DictField(child=serializers.CharField(max_length=200), required=False, default=dict)
    organization = serializers.SlugField(required=False, allow_blank=True, default="",
                                         help_text="Slug of the tenant whose rights holders act for this party.")


class CollectionSerializer(serializers.ModelSerializer):
    """A catalog collection."""

    class Meta:
        model = Collection
        fields = ["id", "slug", "name", "owner", "created_at", "ledger_index"]


class WorkSerializer(serializers.ModelSerializer):
    """A work with creators, identifiers, asset hashes, ISCC codes, style tags and in-band rights."""

    collection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    creators = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()

    class Meta:
        model = Work
        fields = ["id", "collection", "source_key", "title", "media_type", "format", "creators", "identifiers",
                  "rights_holder", "asset_sha256", "asset_size", "iscc_data", "iscc_instance", "iscc_code",
                  "style_tags", "rights_status", "inband", "source_metadata", "content_digest", "created_at",
                  "updated_at", "ledger_index", "updated_ledger_index"]

    def get_creators(self, work: Work) -> list[dict[str, Any]]:
        return [{"party": c.party_id, "name": c.party.name, "role": c.role} for c in work.creators.all()]

    def get_identifiers(self, work: Work) -> list[dict[str, str]]:
        return [{"scheme": i.scheme, "value": i.value} for i in work.identifiers.all()]


class WorkCreateSerializer(serializers.Serializer):
    """Register (or update) one work: a catalog row as in the CSV/JSON Lines format, in a collection."""

    collection = serializers.SlugField()
    row = serializers.DictField(help_text="One catalog row (see the catalog format in the README).")


class LicenseSerializer(serializers.ModelSerializer):
    """A license with its terms, scope and revocation (if any)."""

    uses = serializers.SerializerMethodField()
    territories = serializers.SerializerMethodField()
    excluded_territories = serializers.SerializerMethodField()
    revocation = serializers.SerializerMethodField()
    work_count = serializers.SerializerMethodField()

    class Meta:
        model = License
        fields = ["id", "key", "name", "licensor", "licensee", "basis", "scope", "scope_party", "scope_collection",
                  "uses", "territories", "excluded_territories", "valid_from", "valid_until", "attribution_required",
                  "attribution_text", "royalty_terms", "document_ref", "conditions", "source", "work_count",
                  "revocation", "created_at", "ledger_index"]

    def get_uses(self, license: License) -> list[str]:
        return uses_of(license.uses_mask)

    def get_territories(self, license: License) -> list[str]:
        return territories_of(license.territories)

    def get_excluded_territories(self, license: License) -> list[str]:
        return territories_of(license.excluded_territories)

    def get_work_count(self, license: License) -> int | None:
        return license.work_links.count() if license.scope == LicenseScope.WORKS else None

    def get_revocation(self, license: License) -> dict[str, Any] | None:
        revocation = getattr(license, "revocation", None)
        if revocation is None:
            return None
        return {"effective_at": revocation.effective_at, "reason": revocation.reason,
                "ledger_index": revocation.ledger_index}


class LicenseCreateSerializer(serializers.Serializer):
    """Grant a license. Scope `works` names work ids; `party` a party id; `collection` a collection slug."""

    reference = serializers.CharField(max_length=200, required=False, default="",
                                      help_text="The licensor's reference for this license (its natural key).")
    name = serializers.CharField(max_length=300, required=False, default="")
    licensor = serializers.IntegerField(help_text="Party id of the licensor.")
    licensee = serializers.SlugField(required=False, default="", help_text="Organization slug; default operator.")
    basis = serializers.ChoiceField(choices=["agreement", "public_domain", "open_license", "permission"],
                                    default="agreement")
    scope = serializers.ChoiceField(choices=[s.value for s in LicenseScope])
    works = serializers.ListField(child=serializers.IntegerField(), required=False, default=list, max_length=100_000)
    scope_party = serializers.IntegerField(required=False, allow_null=True, default=None)
    scope_collection = serializers.SlugField(required=False, allow_blank=True, default="")
    uses = serializers.ListField(child=serializers.ChoiceField(choices=[u.value for u in Use]), min_length=1)
    territories = serializers.ListField(child=serializers.CharField(max_length=5), default=lambda: ["WORLD"])
    excluded_territories = serializers.ListField(child=serializers.CharField(max_length=5), default=list)
    valid_from = serializers.DateTimeField()
    valid_until = serializers.DateTimeField(required=False, allow_null=True, default=None)
    attribution_text = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    royalty_terms = serializers.DictField(child=serializers.CharField(max_length=100), required=False, default=dict)
    document_ref = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RevokeSerializer(serializers.Serializer):
    """Revoke a license or withdraw an opt-out, effective at a time (default now)."""

    effective_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class OptOutSerializer(serializers.ModelSerializer):
    """An opt-out with its subject, reserved uses, source and evidence (verbatim)."""

    reserved = serializers.SerializerMethodField()
    withdrawal = serializers.SerializerMethodField()

    class Meta:
        model = OptOut
        fields = ["id", "subject_kind", "subject_work", "subject_party", "subject_value", "reserved", "source",
                  "policy_url", "constraint", "evidence", "effective_from", "registered_by", "withdrawal",
                  "created_at", "ledger_index"]

    def get_reserved(self, optout: OptOut) -> list[str]:
        return reserved_of(optout.reserved_mask)

    def get_withdrawal(self, optout: OptOut) -> dict[str, Any] | None:
        withdrawal = getattr(optout, "withdrawal", None)
        if withdrawal is None:
            return None
        return {"effective_at": withdrawal.effective_at, "reason": withdrawal.reason,
                "ledger_index": withdrawal.ledger_index}


class DirectOptOutSerializer(serializers.Serializer):
    """A direct opt-out request from a rights holder (or staff)."""

    subject_kind = serializers.ChoiceField(choices=[k.value for k in SubjectKind])
    subject = serializers.CharField(max_length=500, help_text="Work id, party id, ISCC, 'scheme:value' or a name.")
    reserved = serializers.ListField(child=serializers.ChoiceField(choices=[u.value for u in ReservedUse]),
                                     min_length=1)
    effective_from = serializers.DateTimeField(required=False, allow_null=True, default=None)
    policy_url = serializers.URLField(required=False, allow_blank=True, default="")
    statement = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="",
                                      help_text="The holder's own words, kept verbatim as evidence.")


class IntakeSerializer(serializers.Serializer):
    """A machine-readable opt-out in one of the supported formats."""

    format = serializers.ChoiceField(choices=["tdmrep", "tdm-headers", "aipref", "robots", "liccium", "c2pa"])
    document = serializers.CharField(required=False, allow_blank=True, default="", max_length=1_000_000,
                                     help_text="tdmrep.json, robots.txt, a Content-Usage value or a TDM·AI JSON.")
    origin = serializers.URLField(required=False, allow_blank=True, default="",
                                  help_text="Site origin the tdmrep.json / robots.txt was fetched from.")
    url = serializers.URLField(required=False, allow_blank=True, default="", help_text="URL the headers came with.")
    headers = serializers.DictField(child=serializers.CharField(max_length=2000), required=False, default=dict)
    subject_kind = serializers.ChoiceField(choices=[k.value for k in SubjectKind], required=False, default="")
    subject = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    asset = serializers.FileField(required=False, allow_null=True, default=None,
                                  help_text="c2pa: the asset file carrying the training-mining assertion.")


class EvaluateSerializer(serializers.Serializer):
    """Rights evaluation request."""

    work_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=100_000)
    use = serializers.ChoiceField(choices=[u.value for u in Use])
    territory = serializers.CharField(max_length=5)
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    as_of_size = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=0)
    licensee = serializers.SlugField(required=False, allow_blank=True, default="",
                                     help_text="Also count this organization's licenses (operator's always count).")


class CatalogImportSerializer(serializers.ModelSerializer):
    """A catalog import with its progress."""

    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    progress = serializers.SerializerMethodField()
    error_report = serializers.SerializerMethodField()

    class Meta:
        model = CatalogImport
        fields = ["id", "organization", "collection_slug", "collection_name", "file_format", "source_sha256",
                  "assets_dir", "status", "total_rows", "rows_done", "rows_created", "rows_updated",
                  "rows_unchanged", "rows_rejected", "licenses_created", "progress", "failure", "error_report",
                  "created_at", "started_at", "finished_at"]

    def get_progress(self, catalog_import: CatalogImport) -> dict[str, Any]:
        p = importer.progress(catalog_import)
        return {"percent": p.percent, "rows_per_second": p.rows_per_second, "eta_seconds": p.eta_seconds}

    def get_error_report(self, catalog_import: CatalogImport) -> str | None:
        request = self.context.get("request")
        if not catalog_import.rows_rejected or request is None:
            return None
        return request.build_absolute_uri(f"/api/v1/catalog-imports/{catalog_import.pk}/error-report/")


class CatalogImportCreateSerializer(serializers.Serializer):
    """Upload a catalog (CSV or JSON Lines) with optional assets (ZIP, or a server directory for staff)."""

    file = serializers.FileField()
    format = serializers.ChoiceField(choices=["csv", "jsonl"], required=False, allow_blank=True, default="")
    collection = serializers.SlugField(max_length=100)
    collection_name = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    assets = serializers.FileField(required=False, allow_null=True, default=None)
    assets_dir = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")
