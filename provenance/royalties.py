"""Royalty statements: for a period, per rights holder, the outputs that credit its works, its influence share,
and what the license terms make it owed.

An output here is a sealed cue (one job; its WAV, FLAC, MIDI ... are renderings of the same cue and are paid
once). Each output's attribution credits training works in parts per million summing to exactly 1,000,000
(provenance.attribution); each credited work carries the license that cleared it for training and its rights
holder (the work's holder, else the licensor). For a credited share `ppm` of one output:

- `per_output` terms (`amount`, `currency`): `amount * ppm / 1,000,000` — a license priced per output is
  paid in proportion to its works' influence on it;
- `revenue_share` terms (`percent`): `revenue_per_output * percent / 100 * ppm / 1,000,000` when the statement
  is given the revenue per output (and its currency); otherwise the line is reported with its share and no
  amount (`revenue_required`);
- no terms (public domain, royalty-free grants): share only.

Amounts are exact decimals (no rounding inside the statement); `payable` rounds each holder's total to the
currency's minor unit once, at the end. `reconcile` recomputes the totals a second way, per output, and the
statement refuses to exist if the two disagree or any output's shares do not sum to 1,000,000.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.db.models import Count, Sum

from clearcue.exceptions import DomainError
from provenance.models import AttributionWork

PPM = 1_000_000
UNPRICED = ""  # currency of share-only lines


@dataclass
class HolderLine:
    """One rights holder's part of a statement."""

    party_id: int
    party_key: str
    name: str
    outputs: int = 0
    ppm: int = 0  # summed over the period's outputs
    amounts: dict[str, Decimal] = field(default_factory=dict)  # currency -> exact amount
    by_license: list[dict[str, Any]] = field(default_factory=list)
    revenue_required: bool = False

    def share(self, outputs: int) -> Decimal:
        """Its share of all influence in the period (0..1)."""
        return Decimal(self.ppm) / (Decimal(outputs) * PPM) if outputs else Decimal(0)


@dataclass
class Statement:
    """A royalty statement for [start, end)."""

    start: datetime
    end: datetime
    outputs: int
    revenue_per_output: Decimal | None
    revenue_currency: str
    holders: list[HolderLine]
    totals: dict[str, Decimal]

    def to_json(self) -> dict[str, Any]:
        """The API form (decimals as strings)."""
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(), "outputs": self.outputs,
            "revenue_per_output": None if self.revenue_per_output is None else str(self.revenue_per_output),
            "revenue_currency": self.revenue_currency or None,
            "totals": {c: str(v) for c, v in sorted(self.totals.items())},
            "holders": [{
                "party": h.party_key, "name": h.name, "outputs": h.outputs, "ppm": h.ppm,
                "share": str(h.share(self.outputs).quantize(Decimal("0.000001"))),
                "amounts": {c: str(v) for c, v in sorted(h.amounts.items())},
                "payable": {c: str(payable(v)) for c, v in sorted(h.amounts.items())},
                "revenue_required": h.revenue_required, "licenses": h.by_license,
            } for h in self.holders],
        }

    def to_csv(self) -> str:
        """One row per holder and currency (share-only holders get one row without an amount), then totals."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["period_start", "period_end", "party", "name", "outputs", "influence_ppm", "share",
                         "currency", "amount", "payable", "revenue_required"])
        for h in self.holders:
            rows = sorted(h.amounts.items()) or [(UNPRICED, None)]
            for currency, amount in rows:
                writer.writerow([self.start.isoformat(), self.end.isoformat(), h.party_key, h.name, h.outputs, h.ppm,
                                 str(h.share(self.outputs).quantize(Decimal("0.000001"))), currency,
                                 "" if amount is None else str(amount),
                                 "" if amount is None else str(payable(amount)), str(h.revenue_required).lower()])
        for currency, total in sorted(self.totals.items()):
            writer.writerow([self.start.isoformat(), self.end.isoformat(), "TOTAL", "", self.outputs,
                             self.outputs * PPM, "1.000000", currency, str(total), "", ""])
        return out.getvalue()


def payable(amount: Decimal) -> Decimal:
    """An exact amount rounded to the minor unit (banker's rounding), as paid."""
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def _line_amount(terms: dict[str, Any], ppm: int, revenue: Decimal | None,
                 revenue_currency: str) -> tuple[str, Decimal] | bool | None:
    """(currency, exact amount) for `ppm` of one output under `terms`; None if unpriced; False if it needs revenue."""
    model = terms.get("model", "")
    if model == "per_output":
        return terms["currency"], Decimal(terms["amount"]) * ppm / PPM
    if model == "revenue_share":
        if revenue is None:
            return False
        return revenue_currency, revenue * Decimal(terms["percent"]) / 100 * ppm / PPM
    return None


def _period(start: datetime, end: datetime) -> Any:
    if end <= start:
        raise DomainError("invalid_period", "The statement period must end after it starts.",
                          details={"start": start.isoformat(), "end": end.isoformat()})
    return AttributionWork.objects.filter(created_at__gte=start, created_at__lt=end)


def statement(start: datetime, end: datetime, *, revenue_per_output: Decimal | None = None,
              revenue_currency: str = "", party_ids: Iterable[int] | None = None) -> Statement:
    """The statement for [start, end) (all holders, or only `party_ids`, e.g. a rights holder's own parties)."""
    if (revenue_per_output is None) != (not revenue_currency):
        raise DomainError("invalid_revenue", "Give the revenue per output together with its currency.")
    rows = _period(start, end)
    outputs = rows.values("job_id").distinct().count()
    holders: dict[int, HolderLine] = {}
    totals: dict[str, Decimal] = {}
    grouped = (rows.values("holder_id", "holder__key", "holder__name", "license_id", "license__key",
                           "license__royalty_terms")
               .annotate(ppm=Sum("ppm"), outputs=Count("job_id", distinct=True)).order_by("holder__key",
                                                                                         "license__key"))
    for row in grouped:
        line = holders.setdefault(row["holder_id"], HolderLine(row["holder_id"], row["holder__key"],
                                                               row["holder__name"]))
        line.ppm += int(row["ppm"])
        priced = _line_amount(row["license__royalty_terms"] or {}, int(row["ppm"]), revenue_per_output,
                              revenue_currency)
        entry: dict[str, Any] = {"license": row["license__key"], "ppm": int(row["ppm"]), "outputs": row["outputs"],
                                 "terms": row["license__royalty_terms"] or {}}
        if priced is False:
            line.revenue_required = True
            entry["amount"] = None
        elif priced is None:
            entry["amount"] = None
        else:
            assert not isinstance(priced, bool)
            currency, amount = priced
            line.amounts[currency] = line.amounts.get(currency, Decimal(0)) + amount
            totals[currency] = totals.get(currency, Decimal(0)) + amount
            entry.update(amount=str(amount), currency=currency)
        line.by_license.append(entry)
    for holder_id, n in rows.values("holder_id").annotate(n=Count("job_id", distinct=True)).values_list(
            "holder_id", "n"):
        holders[holder_id].outputs = n
    result = Statement(start, end, outputs, revenue_per_output, revenue_currency,
                       sorted(holders.values(), key=lambda h: (-h.ppm, h.party_key)), totals)
    reconcile(result, rows)
    if party_ids is not None:
        wanted = set(party_ids)
        result.holders = [h for h in result.holders if h.party_id in wanted]
    return result


def reconcile(result: Statement, rows: Any) -> None:
    """Check the statement against the outputs a second way: every output's shares sum to 1,000,000, and the
    amounts summed per output equal the amounts summed per holder. Raises `statement_unreconciled`."""
    broken = list(rows.values("job_id").annotate(total=Sum("ppm")).exclude(total=PPM).values_list("job_id", "total")
                  [:10])
    if broken:
        raise DomainError("statement_unreconciled", "Some outputs' attributions do not sum to 100%.",
                          details={"outputs": [{"job_id": j, "ppm": t} for j, t in broken]})
    per_output: dict[str, Decimal] = {}
    for row in rows.values("job_id", "license__royalty_terms").annotate(ppm=Sum("ppm")):
        priced = _line_amount(row["license__royalty_terms"] or {}, int(row["ppm"]), result.revenue_per_output,
                              result.revenue_currency)
        if priced is None or isinstance(priced, bool):
            continue
        currency, amount = priced
        per_output[currency] = per_output.get(currency, Decimal(0)) + amount
    if per_output != result.totals or sum(h.ppm for h in result.holders) != result.outputs * PPM:
        raise DomainError("statement_unreconciled", "The statement's totals do not match its outputs.",
                          details={"by_holder": {c: str(v) for c, v in result.totals.items()},
                                   "by_output": {c: str(v) for c, v in per_output.items()}})
