"""The README's main command (today's stage): personas with working keys, a signed and verified ledger."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_demo_prints_working_keys_and_a_verified_checkpoint_and_can_run_twice(settings, tmp_path):
    settings.LEDGER_SIGNING_KEY_PATH = tmp_path / "ledger.key"
    settings.LEDGER_SIGNING_KEY = None
    for _ in range(2):
        out = StringIO()
        call_command("demo", collections="josquin,lusitano,leadSheet,corelli", stdout=out)
        text = out.getvalue()
        keys = re.findall(r"cc_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", text)
        assert len(set(keys)) >= 5
        assert "verify_ledger: OK" in text
        assert "no music is generated" in text
        assert "rights stated by the files:" in text and "evaluate ai_training in US now" in text
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {keys[2]}")
    assert client.get("/api/v1/me/").json()["username"] == "cleo.client"
    assert (tmp_path / "ledger.key").exists()
    from licensing.models import LicenseRevocation, OptOut

    assert OptOut.objects.count() == 3 and LicenseRevocation.objects.count() == 1  # not repeated by the re-run
    assert sorted(OptOut.objects.values_list("source", flat=True)) == ["aipref", "direct", "liccium"]
