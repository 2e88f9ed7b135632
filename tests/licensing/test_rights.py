"""Rights evaluation: licenses, scopes, validity, territories, revocations, opt-outs, and both clocks."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from licensing import rights
from licensing.actions import LicenseGrant, do_grant_license, do_register_optouts, do_revoke_license, do_withdraw_optout
from licensing.ledger import Actor, current_head
from licensing.models import License, OptOutMatch, Party, Work
from licensing.terms import Reservation, ReservedUse, Source, Subject, SubjectKind, territory_field, uses_mask
from tests.licensing.catalog_helpers import load_catalog, small_catalog

pytestmark = pytest.mark.django_db

JUNE = datetime(2026, 6, 1, tzinfo=UTC)
SYSTEM = Actor.system("tests")


@pytest.fixture
def catalog(operator_org):
    result = load_catalog(small_catalog(), operator=operator_org)
    assert result.rejected == []
    return {w.source_key: w for w in Work.objects.all()}


def verdict(work, use="ai_training", territory="US", at=JUNE, **kwargs):
    return rights.evaluate([work.pk], use, territory, at, **kwargs).verdicts[work.pk]


def optout(subject, uses=(ReservedUse.AI_TRAINING,), effective_from=datetime(2026, 1, 1, tzinfo=UTC), **kwargs):
    reservation = Reservation(subject=subject, uses=frozenset(uses), source=Source.DIRECT,
                              evidence={"request": "test"}, effective_from=effective_from, **kwargs)
    return do_register_optouts([reservation], actor=SYSTEM)[0]


def test_a_licensed_work_is_allowed_with_the_license_behind_it(catalog):
    result = verdict(catalog["NL-001"])
    license = License.objects.get(key__endswith="/NL-2026-A")
    assert result.allowed and result.license_ids == (license.pk,) and result.reasons == ()


def test_a_work_without_any_license_is_denied_with_no_license(catalog):
    assert verdict(catalog["NL-004"]).reasons == ("no_license",)


def test_use_territory_and_validity_each_give_their_own_reason(catalog):
    assert verdict(catalog["NL-003"], use="commercial_output", territory="DE").reasons == ("use_not_granted",)
    assert verdict(catalog["NL-003"], territory="US").reasons == ("territory_excluded",)
    assert verdict(catalog["NL-003"], territory="DE").allowed
    assert verdict(catalog["NL-001"], at=datetime(2028, 1, 1, tzinfo=UTC)).reasons == ("license_expired",)
    assert verdict(catalog["NL-001"], at=datetime(2025, 12, 31, tzinfo=UTC)).reasons == ("license_not_yet_valid",)


def test_a_revocation_takes_effect_at_its_effective_time_not_before(catalog):
    license = License.objects.get(key__endswith="/NL-2026-A")
    do_revoke_license(license, effective_at=datetime(2026, 7, 1, tzinfo=UTC), reason="breach", actor=SYSTEM)
    assert verdict(catalog["NL-001"]).allowed
    late = verdict(catalog["NL-001"], at=datetime(2026, 8, 1, tzinfo=UTC))
    assert late.reasons == ("revoked",) and late.license_ids == (license.pk,)


def test_an_opt_out_wins_over_a_license_and_names_itself(catalog):
    reserved = optout(Subject(SubjectKind.WORK, str(catalog["NL-001"].pk)))
    result = verdict(catalog["NL-001"])
    assert not result.allowed and result.reasons == ("opted_out",) and result.optout_ids == (reserved.pk,)
    assert verdict(catalog["NL-002"]).allowed


def test_opt_outs_match_by_party_creator_name_identifier_and_only_block_the_uses_they_reserve(catalog):
    holder = Party.objects.get(name="Nordlys Music AB")
    optout(Subject(SubjectKind.PARTY, str(holder.pk)), uses=(ReservedUse.AI_INFERENCE,))
    assert verdict(catalog["NL-001"]).allowed  # inference reservations do not block training
    assert verdict(catalog["NL-001"], use="style_reference").reasons == ("opted_out",)
    optout(Subject(SubjectKind.CREATOR_NAME, "Lindqvist, Mara"), uses=(ReservedUse.GENERATIVE_TRAINING,))
    assert verdict(catalog["NL-002"]).reasons == ("opted_out",)
    optout(Subject(SubjectKind.IDENTIFIER, "iswc:T-034.524.680-1"), uses=(ReservedUse.ALL,))
    assert verdict(catalog["NL-001"], use="commercial_output").reasons == ("opted_out",)


def test_opt_outs_registered_before_a_work_is_catalogued_name_it_and_a_rewritten_record_is_matched_again(
        operator_org):
    """The opt-out match index is written from both sides: opt-outs registered first name the works imported
    later (by creator name, identifier and holder), and a work whose record changes is matched afresh."""
    by_name = optout(Subject(SubjectKind.CREATOR_NAME, "Lindqvist, Mara"))
    by_iswc = optout(Subject(SubjectKind.IDENTIFIER, "iswc:T-034.524.680-1"))
    assert load_catalog(small_catalog(), operator=operator_org).rejected == []
    works = {w.source_key: w for w in Work.objects.all()}
    holder = Party.objects.get(name="Nordlys Music AB")
    by_holder = optout(Subject(SubjectKind.PARTY, str(holder.pk)), uses=(ReservedUse.AI_INFERENCE,))
    assert verdict(works["NL-001"]).optout_ids == (by_name.pk, by_iswc.pk)
    assert verdict(works["NL-001"], use="style_reference").optout_ids == (by_holder.pk,)
    assert verdict(works["NL-004"]).reasons == ("no_license",)  # Per Holm: not named by the creator opt-out
    assert set(OptOutMatch.objects.filter(work=works["NL-001"]).values_list("optout_id", flat=True)) == {
        by_name.pk, by_iswc.pk, by_holder.pk}

    # NL-001 is re-imported credited to Per Holm and without its ISWC: only the holder still names it.
    rows = small_catalog().decode().replace("NL-001,Harbour Lights,composer:Mara Lindqvist,T-034.524.680-1,",
                                            "NL-001,Harbour Lights,composer:Per Holm,,")
    result = load_catalog(rows.encode(), operator=operator_org)
    assert result.rejected == [] and result.updated == 1
    assert verdict(works["NL-001"]).allowed
    assert set(OptOutMatch.objects.filter(work=works["NL-001"]).values_list("optout_id", flat=True)) == {
        by_holder.pk}
    assert verdict(works["NL-002"]).optout_ids == (by_name.pk,)


def test_the_match_index_check_finds_a_lost_match_and_a_rebuild_restores_the_incremental_index(catalog):
    holder = Party.objects.get(name="Nordlys Music AB")
    optout(Subject(SubjectKind.PARTY, str(holder.pk)))
    optout(Subject(SubjectKind.CREATOR_NAME, "Holm, Per"))
    optout(Subject(SubjectKind.IDENTIFIER, "iswc:T-034.524.680-1"))
    optout(Subject(SubjectKind.WORK, str(catalog["NL-003"].pk)))
    optout(Subject(SubjectKind.ISCC, "ISCC:KACYPXW445FTYNJ3"))  # names no work: no asset carries it
    columns = ("work_id", "optout_id", "reserved_mask", "effective_from", "constraint", "ledger_index")
    incremental = set(OptOutMatch.objects.values_list(*columns))
    assert len(incremental) == 4 + 1 + 1 + 1
    call_command("optout_matches", stdout=io.StringIO())  # consistent: exits cleanly
    OptOutMatch.objects.filter(work=catalog["NL-003"]).delete()
    with pytest.raises(CommandError, match=r"2 missing, 0 extra"):
        call_command("optout_matches")
    out = io.StringIO()
    call_command("optout_matches", "--rebuild", stdout=out)
    assert "rebuilt: 7 matches" in out.getvalue()
    assert set(OptOutMatch.objects.values_list(*columns)) == incremental


def test_an_opt_out_counts_only_from_its_effective_time(catalog):
    optout(Subject(SubjectKind.WORK, str(catalog["NL-001"].pk)), effective_from=datetime(2026, 9, 1, tzinfo=UTC))
    assert verdict(catalog["NL-001"]).allowed
    assert verdict(catalog["NL-001"], at=datetime(2026, 9, 2, tzinfo=UTC)).reasons == ("opted_out",)


def test_a_withdrawn_opt_out_stops_blocking_from_its_effective_time(catalog):
    reserved = optout(Subject(SubjectKind.WORK, str(catalog["NL-002"].pk)))
    do_withdraw_optout(reserved, effective_at=datetime(2026, 7, 1, tzinfo=UTC), reason="deal signed", actor=SYSTEM)
    assert verdict(catalog["NL-002"]).reasons == ("opted_out",)
    assert verdict(catalog["NL-002"], at=datetime(2026, 7, 2, tzinfo=UTC)).allowed


def test_a_constrained_opt_out_yields_only_to_the_license_it_names(catalog):
    optout(Subject(SubjectKind.WORK, str(catalog["NL-001"].pk)), constraint="contract NL-2026-A")
    optout(Subject(SubjectKind.WORK, str(catalog["NL-002"].pk)), constraint="some other contract")
    assert verdict(catalog["NL-001"]).allowed
    assert verdict(catalog["NL-002"]).reasons == ("opted_out",)


def test_as_of_ledger_size_answers_what_was_known_then(catalog):
    size_before, _ = current_head()
    optout(Subject(SubjectKind.WORK, str(catalog["NL-001"].pk)))
    assert not verdict(catalog["NL-001"]).allowed
    assert verdict(catalog["NL-001"], as_of_size=size_before).allowed
    first_work = Work.objects.order_by("ledger_index").first()
    assert verdict(first_work, as_of_size=first_work.ledger_index).reasons == ("unknown_work",)


def test_party_and_collection_scoped_licenses_cover_every_work_in_scope(catalog, operator_org, org_a):
    holder = Party.objects.get(name="Nordlys Music AB")
    do_grant_license(LicenseGrant(licensor=holder, licensee=org_a, scope="party", scope_party=holder,
                                  uses_mask=uses_mask(["commercial_output"]), territories=territory_field(["WORLD"]),
                                  valid_from=datetime(2026, 1, 1, tzinfo=UTC)), actor=SYSTEM)
    work = catalog["NL-004"]
    assert verdict(work, use="commercial_output").reasons == ("no_license",)  # operator's licenses only
    both = [operator_org.pk, org_a.pk]
    assert verdict(work, use="commercial_output", licensee_ids=both).allowed
    collection = work.collection
    do_grant_license(LicenseGrant(licensor=holder, licensee=operator_org, scope="collection",
                                  scope_collection=collection, uses_mask=uses_mask(["style_reference"]),
                                  territories=territory_field(["US"]), valid_from=datetime(2026, 1, 1, tzinfo=UTC)),
                     actor=SYSTEM)
    assert verdict(work, use="style_reference").allowed
    assert verdict(work, use="style_reference", territory="GB").reasons == ("territory_excluded",)


def test_unknown_works_uses_and_territories_are_answered_precisely(catalog):
    evaluation = rights.evaluate([999_999], "ai_training", "US", JUNE)
    assert evaluation.verdicts[999_999].reasons == ("unknown_work",)
    for use, territory, code in [("mining", "US", "unknown_use"), ("ai_training", "XX", "invalid_territory"),
                                 ("ai_training", "WORLD", "invalid_territory")]:
        with pytest.raises(Exception) as info:
            rights.evaluate([1], use, territory, JUNE)
        assert info.value.code == code


def test_evaluation_of_many_works_reports_counts_per_reason(catalog):
    evaluation = rights.evaluate([w.pk for w in catalog.values()], "ai_training", "US", JUNE)
    assert evaluation.allowed_ids() == sorted([catalog["NL-001"].pk, catalog["NL-002"].pk])
    assert evaluation.reason_counts() == {"no_license": 1, "territory_excluded": 1}


def test_licenses_and_opt_outs_cannot_be_edited_or_deleted_in_the_database(catalog):
    from django.db import DatabaseError, transaction

    reserved = optout(Subject(SubjectKind.WORK, str(catalog["NL-001"].pk)))
    for statement in ["UPDATE licensing_license SET uses_mask = 31", "DELETE FROM licensing_licensework",
                      f"UPDATE licensing_optout SET reserved_mask = 0 WHERE id = {reserved.pk}",
                      "DELETE FROM licensing_optout"]:
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    assert not verdict(catalog["NL-001"]).allowed


def _answers(evaluation):
    return {w: (v.allowed, v.reasons, v.license_ids, v.optout_ids) for w, v in evaluation.verdicts.items()}


def test_every_shape_of_the_answer_agrees_and_details_stay_pinned_to_the_ledger_size(catalog, monkeypatch):
    """Small sets on PostgreSQL come back complete in one prepared statement; large sets grouped by outcome with
    the details of denied works read on first use (SQLite: a row per work, details on first use). All agree,
    and details read after the ledger has grown still answer the question as it was asked."""
    license = License.objects.get(key__endswith="/NL-2026-A")
    do_revoke_license(license, effective_at=datetime(2026, 5, 1, tzinfo=UTC), reason="breach", actor=SYSTEM)
    holder = Party.objects.get(name="Nordlys Music AB")
    reserved = optout(Subject(SubjectKind.PARTY, str(holder.pk)))
    ids = [w.pk for w in catalog.values()] + [999_999]
    small = rights.evaluate(ids, "ai_training", "DE", JUNE)
    monkeypatch.setattr(rights, "PREPARED_MAX", 0)
    large = rights.evaluate(ids, "ai_training", "DE", JUNE)
    late = rights.evaluate(ids, "ai_training", "DE", JUNE)
    optout(Subject(SubjectKind.WORK, str(catalog["NL-003"].pk)))  # the ledger grows before `late` reads details
    assert _answers(small) == _answers(large) == _answers(late)
    assert small.reason_counts() == large.reason_counts()
    nl001 = large.verdicts[catalog["NL-001"].pk]
    assert nl001.reasons == ("opted_out", "revoked") and nl001.license_ids == (license.pk,)
    assert nl001.optout_ids == (reserved.pk,)
    assert large.verdicts[999_999].reasons == ("unknown_work",) and 999_999 in large.verdicts
    assert sorted(large.verdicts) == sorted(ids) and len(large.verdicts) == len(ids)
    assert large.denied_ids() == sorted(v.work_id for v in large.denied())


@pytest.mark.parametrize("size", [10, 10_000])
def test_a_group_arriving_unordered_is_put_in_ascending_order_with_its_license_ids_alongside(size):
    ids = list(range(1, size + 1))
    shuffled = ids[size // 2:] + ids[:size // 2]
    group = rights._Group(True, (), list(shuffled), [w * 10 for w in shuffled])
    rights._ascending(group)
    assert group.work_ids == ids and group.license_ids == [w * 10 for w in ids]
    denied = rights._Group(False, ("no_license",), list(reversed(ids)))
    rights._ascending(denied)
    assert denied.work_ids == ids and denied.license_ids is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the columnar evaluation is PostgreSQL's")
def test_the_columnar_evaluation_of_most_of_a_catalog_agrees_with_the_sql_shapes_on_every_question(
        catalog, operator_org, org_a, monkeypatch):
    """licensing.rights_columnar reduces per work in numpy what the SQL shapes reduce in the statement: on a
    catalog with every kind of coverage (listed works, party and collection scopes, two licensees, a work with
    two licenses, revocation) and opt-out (work, party, constrained yielding or not, withdrawn, not yet
    effective), every shape gives the same verdicts for every use, territory, time and ledger size asked."""
    holder = Party.objects.get(name="Nordlys Music AB")
    size_before = current_head()[0]
    do_grant_license(LicenseGrant(licensor=holder, licensee=org_a, scope="party", scope_party=holder,
                                  uses_mask=uses_mask(["commercial_output", "ai_training"]),
                                  territories=territory_field(["WORLD"]), valid_from=datetime(2026, 1, 1, tzinfo=UTC)),
                     actor=SYSTEM)
    do_grant_license(LicenseGrant(
        licensor=holder, licensee=operator_org, scope="collection", scope_collection=catalog["NL-004"].collection,
        uses_mask=uses_mask(["style_reference"]), territories=territory_field(["US", "DE"]),
        valid_from=datetime(2026, 3, 1, tzinfo=UTC), valid_until=datetime(2026, 9, 1, tzinfo=UTC),
        document_ref="contract COLL-1"), actor=SYSTEM)
    revoked = License.objects.get(key__endswith="/NL-2026-A")
    do_revoke_license(revoked, effective_at=datetime(2026, 5, 1, tzinfo=UTC), reason="breach", actor=SYSTEM)
    optout(Subject(SubjectKind.WORK, str(catalog["NL-003"].pk)), constraint="contract NL-2026-EU")
    optout(Subject(SubjectKind.WORK, str(catalog["NL-004"].pk)), uses=(ReservedUse.ALL,),
           constraint="contract COLL-1")
    optout(Subject(SubjectKind.WORK, str(catalog["NL-002"].pk)), constraint="a contract nobody holds")
    withdrawn = optout(Subject(SubjectKind.PARTY, str(holder.pk)), uses=(ReservedUse.AI_INFERENCE,))
    do_withdraw_optout(withdrawn, effective_at=datetime(2026, 7, 1, tzinfo=UTC), reason="settled", actor=SYSTEM)
    optout(Subject(SubjectKind.WORK, str(catalog["NL-001"].pk)), effective_from=datetime(2026, 8, 1, tzinfo=UTC))
    ids = [w.pk for w in catalog.values()] + [999_999]
    questions = [(use, territory, at, licensees, size)
                 for use in ("ai_training", "style_reference", "commercial_output")
                 for territory in ("DE", "US", "CN")
                 for at in (datetime(2026, 2, 1, tzinfo=UTC), JUNE, datetime(2026, 10, 1, tzinfo=UTC))
                 for licensees in ([operator_org.pk], [operator_org.pk, org_a.pk])
                 for size in (size_before, None)]

    def answers(shape_settings):
        for name, value in shape_settings.items():
            monkeypatch.setattr(rights, name, value)
        result = []
        for use, territory, at, licensees, size in questions:
            evaluation = rights.evaluate(ids, use, territory, at, licensee_ids=licensees, as_of_size=size)
            result.append((_answers(evaluation), evaluation.reason_counts()))
        return result

    complete = answers({"PREPARED_MAX": 10_000, "COLUMNAR_FRACTION": 0.25})
    grouped = answers({"PREPARED_MAX": 0, "COLUMNAR_FRACTION": 1e12})
    columnar = answers({"PREPARED_MAX": 0, "COLUMNAR_FRACTION": 0})
    assert complete == grouped == columnar
    outcomes = {reason for verdicts, _ in columnar for v in verdicts.values() for reason in v[1]}
    assert outcomes >= {"opted_out", "revoked", "license_expired", "license_not_yet_valid", "use_not_granted",
                        "territory_excluded", "no_license", "unknown_work"}
    assert any(v[0] for verdicts, _ in columnar for v in verdicts.values())
    # The constrained opt-out on NL-003 yields to the license whose document it names; NL-002's does not.
    june_de = questions.index(("ai_training", "DE", JUNE, [operator_org.pk], None))
    assert columnar[june_de][0][catalog["NL-003"].pk][0] is True
    assert columnar[june_de][0][catalog["NL-002"].pk][1][0] == "opted_out"
