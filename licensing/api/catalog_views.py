"""Catalog API: parties, collections, works, licenses, the opt-out registry, catalog imports, evaluation.

Thin on purpose: viewsets declare querysets, filters and permissions; custom actions parse input and call
one `do_*` (or a pure intake parser, then `do_register_optouts`).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clearcue.exceptions import DomainError
from clearcue.models import Organization, Role
from clearcue.permissions import CatalogAccess, is_operator_catalog_admin
from clearcue.tenancy import operator_organization, principal_for
from licensing import actions, catalog_format, importer, rights
from licensing.api import catalog_serializers as s
from licensing.catalog_format import PartyRef
from licensing.ledger import Actor
from licensing.models import CatalogImport, Collection, License, OptOut, Party, Work
from licensing.prepared import PreparedRow
from licensing.terms import (
    IntakeError,
    Reservation,
    ReservedUse,
    Source,
    Subject,
    SubjectKind,
    territory_field,
    uses_mask,
)


def _actor(request: Request) -> Actor:
    principal = principal_for(request)
    org = principal.memberships[0].organization if principal.memberships else None
    return Actor.of(request.user, org)


def _reads_all(request: Request) -> bool:
    """Operator members and staff see every license and opt-out; others see their own organization's."""
    principal = principal_for(request)
    return principal.is_staff or any(m.organization.is_operator for m in principal.memberships)


class PartyViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Parties: rights holders, licensors, creators."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    serializer_class = s.PartySerializer
    filterset_fields = ["kind", "ipi", "isni", "organization"]
    queryset = Party.objects.all()

    def get_queryset(self) -> QuerySet[Party]:
        queryset = Party.objects.all()
        q = self.request.query_params.get("q")
        return queryset.filter(name__icontains=q) if q else queryset

    @extend_schema(request=s.PartyCreateSerializer, responses={201: s.PartySerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.PartyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        org = None
        if data["organization"]:
            org = get_object_or_404(Organization, slug=data["organization"])
        party = actions.do_register_party(PartyRef(name=data["name"], kind=data["kind"], ipi=data["ipi"],
                                                   isni=data["isni"]),
                                          actor=_actor(request), organization=org, identifiers=data["identifiers"])
        return Response(s.PartySerializer(party).data, status=status.HTTP_201_CREATED)


class CollectionViewSet(viewsets.ReadOnlyModelViewSet):
    """Collections (catalogs) of works."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    serializer_class = s.CollectionSerializer
    queryset = Collection.objects.all()
    lookup_field = "slug"


class WorkFilter(django_filters.FilterSet):
    """Filters of the work list."""

    collection = django_filters.CharFilter(field_name="collection__slug")
    tag = django_filters.CharFilter(field_name="tags__tag")
    creator = django_filters.NumberFilter(field_name="creators__party_id")
    q = django_filters.CharFilter(field_name="title", lookup_expr="icontains")
    iscc = django_filters.CharFilter(method="filter_iscc")
    identifier = django_filters.CharFilter(method="filter_identifier", help_text="scheme:value")

    class Meta:
        model = Work
        fields = ["collection", "rights_holder", "rights_status", "media_type", "format", "asset_sha256"]

    def filter_iscc(self, queryset: QuerySet[Work], name: str, value: str) -> QuerySet[Work]:
        return queryset.filter(Q(iscc_code=value) | Q(iscc_data=value) | Q(iscc_instance=value))

    def filter_identifier(self, queryset: QuerySet[Work], name: str, value: str) -> QuerySet[Work]:
        scheme, _, ident = value.partition(":")
        return queryset.filter(identifiers__scheme=scheme, identifiers__value=ident)


class WorkViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Works of the catalog; creating one takes a catalog row (the same format as imports)."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    serializer_class = s.WorkSerializer
    filterset_class = WorkFilter

    def get_queryset(self) -> QuerySet[Work]:
        return (Work.objects.select_related("collection")
                .prefetch_related("creators__party", "identifiers").distinct().order_by("id"))

    @extend_schema(request=s.WorkCreateSerializer, responses={201: s.WorkSerializer, 200: s.WorkSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.WorkCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        parsed = catalog_format.parse_row(1, body.validated_data["row"])
        if isinstance(parsed, list):
            raise DomainError("invalid_row", "The catalog row is not valid.",
                              details=[{"column": e.column, "code": e.code, "message": e.message} for e in parsed])
        if parsed.asset:
            raise DomainError("asset_not_supported", "Works with assets are added through a catalog import.")
        result = actions.do_apply_catalog_rows(
            [PreparedRow(parsed)], collection_slug=body.validated_data["collection"], collection_name="",
            operator=operator_organization(), actor=_actor(request), source={"via": "api"})
        if result.rejected:
            error = result.rejected[0]
            raise DomainError(error.code, error.message, details={"column": error.column}, status=409)
        work = self.get_queryset().get(pk=result.work_ids[1])
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(s.WorkSerializer(work).data, status=code)


class LicenseViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Licenses. Immutable once granted: `revoke` records a revocation, effective at a time."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    serializer_class = s.LicenseSerializer
    filterset_fields = ["licensor", "licensee", "basis", "scope", "scope_party", "scope_collection"]

    def get_queryset(self) -> QuerySet[License]:
        queryset = License.objects.select_related("revocation").order_by("id")
        if _reads_all(self.request):
            return queryset
        return queryset.filter(licensee_id__in=principal_for(self.request).org_ids())

    @extend_schema(request=s.LicenseCreateSerializer, responses={201: s.LicenseSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = s.LicenseCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            territories = territory_field(data["territories"])
            excluded = territory_field(data["excluded_territories"])
        except ValueError as exc:
            raise DomainError("invalid_territory", str(exc)) from None
        works = list(Work.objects.filter(pk__in=data["works"]))
        missing = sorted(set(data["works"]) - {w.pk for w in works})
        if missing:
            raise DomainError("unknown_work", "Some works do not exist.", details={"work_ids": missing[:50],
                                                                                   "count": len(missing)})
        grant = actions.LicenseGrant(
            licensor=get_object_or_404(Party, pk=data["licensor"]),
            licensee=(get_object_or_404(Organization, slug=data["licensee"]) if data["licensee"]
                      else operator_organization()),
            scope=data["scope"], uses_mask=uses_mask(data["uses"]), territories=territories,
            excluded_territories=excluded, valid_from=data["valid_from"], valid_until=data["valid_until"],
            name=data["name"], basis=data["basis"], works=works,
            scope_party=get_object_or_404(Party, pk=data["scope_party"]) if data["scope"] == "party" else None,
            scope_collection=get_object_or_404(Collection, slug=data["scope_collection"])
            if data["scope"] == "collection" else None,
            attribution_text=data["attribution_text"], royalty_terms=data["royalty_terms"],
            document_ref=data["document_ref"], reference=data["reference"])
        license = actions.do_grant_license(grant, actor=_actor(request))
        return Response(s.LicenseSerializer(license).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.RevokeSerializer, responses={200: s.LicenseSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        license = self.get_object()
        body = s.RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.do_revoke_license(license, effective_at=body.validated_data["effective_at"],
                                  reason=body.validated_data["reason"], actor=_actor(request))
        return Response(s.LicenseSerializer(License.objects.get(pk=license.pk)).data)


def _may_reserve_for(request: Request, subject: Subject) -> bool:
    """Direct opt-outs: staff and operator catalog admins for anything; rights holders for their parties' works."""
    if is_operator_catalog_admin(request):
        return True
    orgs = principal_for(request).org_ids([Role.RIGHTS_HOLDER])
    if not orgs:
        return False
    if subject.kind == SubjectKind.PARTY:
        return Party.objects.filter(pk=subject.value if subject.value.isdigit() else -1,
                                    organization_id__in=orgs).exists()
    if subject.kind == SubjectKind.WORK:
        work_id = int(subject.value) if subject.value.isdigit() else -1
        return Work.objects.filter(pk=work_id).filter(
            Q(rights_holder__organization_id__in=orgs) | Q(creators__party__organization_id__in=orgs)).exists()
    # Names, identifiers and ISCC codes: a rights holder may reserve them (a reservation only ever narrows
    # what Clearcue may use, so a mistaken one fails closed); the registering organization is recorded.
    return True


class OptOutViewSet(viewsets.ReadOnlyModelViewSet):
    """The opt-out registry: direct requests and machine-readable intake; withdrawal is a new record."""

    serializer_class = s.OptOutSerializer
    filterset_fields = ["subject_kind", "subject_work", "subject_party", "source", "registered_by"]

    def get_queryset(self) -> QuerySet[OptOut]:
        queryset = OptOut.objects.select_related("withdrawal").order_by("id")
        if _reads_all(self.request):
            return queryset
        return queryset.filter(registered_by_id__in=principal_for(self.request).org_ids())

    def _registering_org(self, request: Request) -> Organization | None:
        principal = principal_for(request)
        holders = [m.organization for m in principal.memberships if m.role == Role.RIGHTS_HOLDER]
        if holders:
            return holders[0]
        return principal.memberships[0].organization if principal.memberships else None

    def _register(self, request: Request, reservations: list[Reservation]) -> Response:
        for reservation in reservations:
            if not _may_reserve_for(request, reservation.subject):
                raise DomainError("not_your_subject", "You may register opt-outs only for your own parties' works.",
                                  details={"subject_kind": reservation.subject.kind,
                                           "subject": reservation.subject.value}, status=403)
        optouts = actions.do_register_optouts(reservations, actor=_actor(request),
                                              registered_by=self._registering_org(request))
        return Response(s.OptOutSerializer(optouts, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DirectOptOutSerializer, responses={201: s.OptOutSerializer(many=True)})
    def create(self, request: Request) -> Response:
        body = s.DirectOptOutSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        reservation = Reservation(
            subject=Subject(SubjectKind(data["subject_kind"]), data["subject"]),
            uses=frozenset(ReservedUse(u) for u in data["reserved"]), source=Source.DIRECT,
            evidence={"request": {k: str(v) if v is not None else None for k, v in request.data.items()}},
            policy_url=data["policy_url"], effective_from=data["effective_from"])
        return self._register(request, [reservation])

    @extend_schema(request={"multipart/form-data": s.IntakeSerializer, "application/json": s.IntakeSerializer},
                   responses={201: s.OptOutSerializer(many=True)})
    @action(detail=False, methods=["post"], parser_classes=[JSONParser, MultiPartParser, FormParser])
    def intake(self, request: Request) -> Response:
        """Register the reservations stated by a TDMRep, aipref, TDM·AI or C2PA/CAWG input."""
        body = s.IntakeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            reservations = _parse_intake(body.validated_data)
        except IntakeError as exc:
            raise DomainError(exc.code, exc.message, details=exc.details) from exc
        return self._register(request, reservations)

    @extend_schema(request=s.RevokeSerializer, responses={200: s.OptOutSerializer})
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk: str | None = None) -> Response:
        optout = self.get_object()
        principal = principal_for(request)
        if not (is_operator_catalog_admin(request) or optout.registered_by_id in principal.org_ids()):
            raise DomainError("not_your_optout", "Only whoever registered an opt-out may withdraw it.", status=403)
        body = s.RevokeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actions.do_withdraw_optout(optout, effective_at=body.validated_data["effective_at"],
                                   reason=body.validated_data["reason"], actor=_actor(request))
        return Response(s.OptOutSerializer(OptOut.objects.get(pk=optout.pk)).data)


def _urls_at(origin: str) -> list[str]:
    """Work URLs (identifier scheme `url`) at an origin: the resources a site-wide document speaks about."""
    from licensing.models import WorkIdentifier

    prefix = origin.rstrip("/") + "/"
    return list(WorkIdentifier.objects.filter(scheme="url", value__startswith=prefix).values_list("value", flat=True))


def _subject(data: dict[str, Any]) -> Subject:
    if not data["subject_kind"] or not data["subject"]:
        raise IntakeError("subject_required", "This format needs subject_kind and subject (what it applies to).")
    return Subject(SubjectKind(data["subject_kind"]), data["subject"])


def _parse_intake(data: dict[str, Any]) -> list[Reservation]:
    """Dispatch to the pure parser of each format."""
    from licensing import aipref, liccium, tdmrep

    fmt = data["format"]
    if fmt == "tdmrep":
        if not data["origin"]:
            raise IntakeError("origin_required", "A tdmrep.json needs the origin it was published at.")
        document = tdmrep.parse_document(data["document"])
        return tdmrep.reservations(data["origin"], _urls_at(data["origin"]), document=document)
    if fmt == "tdm-headers":
        if not data["url"]:
            raise IntakeError("url_required", "TDMRep headers need the URL they were served with.")
        origin = "/".join(data["url"].split("/")[:3])
        return tdmrep.reservations(origin, [data["url"]], headers_by_url={data["url"]: data["headers"]})
    if fmt == "aipref":
        return aipref.reservations(_subject(data), data["document"])
    if fmt == "robots":
        if not data["origin"]:
            raise IntakeError("origin_required", "A robots.txt needs the origin it was published at.")
        return aipref.reservations_from_robots(data["origin"], data["document"], _urls_at(data["origin"]))
    if fmt == "liccium":
        return liccium.reservations(data["document"])
    if fmt == "c2pa":
        from licensing import cawg

        upload = data["asset"]
        if upload is None:
            raise IntakeError("asset_required", "Upload the asset file carrying the C2PA manifest.")
        content = upload.read()
        subject = _subject(data) if data["subject_kind"] else _iscc_subject(content)
        mime = upload.content_type or "application/octet-stream"
        return cawg.reservations_from_asset(content, mime, subject)
    raise IntakeError("unknown_format", f"Unknown opt-out format {fmt!r}.")


def _iscc_subject(content: bytes) -> Subject:
    """Without an explicit subject, an asset's reservation is keyed by its ISCC Instance-Code."""
    from licensing.assets import iscc_codes

    return Subject(SubjectKind.ISCC, iscc_codes(content)[1])


class EvaluateView(APIView):
    """May these works be used for a use, in a territory, at a time, as known at a ledger size?"""

    @extend_schema(request=s.EvaluateSerializer, responses={200: OpenApiResponse(description="verdicts")})
    def post(self, request: Request) -> Response:
        principal = principal_for(request)
        if not (principal.is_staff or principal.memberships):
            raise DomainError("no_membership", "Only members of an organization may evaluate rights.", status=403)
        body = s.EvaluateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        licensees = {operator_organization().pk}
        if data["licensee"]:
            org = get_object_or_404(Organization, slug=data["licensee"])
            if not (_reads_all(request) or org.pk in principal.org_ids()):
                raise DomainError("not_found", "No such organization.", status=404)
            licensees.add(org.pk)
        evaluation = rights.evaluate(data["work_ids"], data["use"], data["territory"], data["at"],
                                     licensee_ids=licensees, as_of_size=data["as_of_size"])
        return Response({
            "use": evaluation.use, "territory": evaluation.territory, "at": evaluation.at,
            "as_of_size": evaluation.as_of_size, "allowed": len(evaluation.allowed_ids()),
            "denied": len(evaluation.verdicts) - len(evaluation.allowed_ids()),
            "reason_counts": evaluation.reason_counts(),
            "verdicts": [{"work_id": v.work_id, "allowed": v.allowed, "reasons": list(v.reasons),
                          "license_ids": list(v.license_ids), "optout_ids": list(v.optout_ids)}
                         for v in (evaluation.verdicts[w] for w in sorted(evaluation.verdicts))],
        })


class CatalogImportViewSet(viewsets.ReadOnlyModelViewSet):
    """Catalog uploads and their progress; the error report of rejected rows as CSV."""

    permission_classes = [permissions.IsAuthenticated, CatalogAccess]
    serializer_class = s.CatalogImportSerializer
    filterset_fields = ["status", "collection_slug"]

    def get_queryset(self) -> QuerySet[CatalogImport]:
        queryset = CatalogImport.objects.select_related("organization").order_by("-created_at")
        if _reads_all(self.request):
            return queryset
        return queryset.filter(organization_id__in=principal_for(self.request).org_ids())

    @extend_schema(request={"multipart/form-data": s.CatalogImportCreateSerializer},
                   responses={202: s.CatalogImportSerializer})
    def create(self, request: Request) -> Response:
        body = s.CatalogImportCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if data["assets_dir"] and not principal_for(request).is_staff:
            raise DomainError("staff_only", "Only staff may import assets from a server directory.", status=403)
        upload = data["file"]
        fmt = data["format"] or ("jsonl" if upload.name.lower().endswith((".jsonl", ".ndjson")) else "csv")
        catalog_import = actions.do_create_catalog_import(
            organization=operator_organization(), user=request.user, data=upload.read(), file_format=fmt,
            collection_slug=data["collection"], collection_name=data["collection_name"],
            assets_zip=data["assets"].read() if data["assets"] else None, assets_dir=data["assets_dir"])
        catalog_import.refresh_from_db()
        return Response(s.CatalogImportSerializer(catalog_import, context={"request": request}).data,
                        status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/csv"): OpenApiResponse(description="row,column,code,message")})
    @action(detail=True, methods=["get"], url_path="error-report")
    def errors_csv(self, request: Request, pk: str | None = None) -> HttpResponse:
        catalog_import = self.get_object()
        response = HttpResponse(importer.error_report_csv(catalog_import), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{catalog_import.pk}-errors.csv"'
        return response
