"""An auditor downloads a checkpoint and proofs from the API and verifies them offline, without Django."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from licensing.actions import do_publish_checkpoint
from tests.licensing.conftest import append

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _verify(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    code = ("import sys, runpy; sys.argv = ['licensing.verifier', *sys.argv[1:]]; "
            "runpy.run_module('licensing.verifier', run_name='__main__')")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_checkpoint_inclusion_and_consistency_verify_offline_from_api_downloads(anon, ledger_key, tmp_path):
    _, vkey = ledger_key
    append(10)
    do_publish_checkpoint()
    (tmp_path / "old.checkpoint").write_text(anon.get("/api/v1/ledger/checkpoint").content.decode())
    append(7)
    do_publish_checkpoint()
    (tmp_path / "new.checkpoint").write_text(anon.get("/api/v1/ledger/checkpoint").content.decode())
    inclusion = anon.get("/api/v1/ledger/proof/inclusion/", {"leaf_index": 12, "tree_size": 17}).json()
    (tmp_path / "inclusion.json").write_text(json.dumps(inclusion))
    consistency = anon.get("/api/v1/ledger/proof/consistency/", {"first": 10, "second": 17}).json()
    (tmp_path / "consistency.json").write_text(json.dumps(consistency))

    result = _verify("checkpoint", "--vkey", vkey, str(tmp_path / "new.checkpoint"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")
    result = _verify("inclusion", "--vkey", vkey, "--checkpoint", str(tmp_path / "new.checkpoint"),
                     "--proof", str(tmp_path / "inclusion.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    result = _verify("consistency", "--vkey", vkey, "--old", str(tmp_path / "old.checkpoint"),
                     "--new", str(tmp_path / "new.checkpoint"), "--proof", str(tmp_path / "consistency.json"))
    assert result.returncode == 0, result.stdout + result.stderr

    # A proof for another entry claimed as entry 12 fails, with a typed error.
    inclusion["leaf_hash"] = anon.get("/api/v1/ledger/proof/inclusion/", {"leaf_index": 3}).json()["leaf_hash"]
    (tmp_path / "forged.json").write_text(json.dumps(inclusion))
    result = _verify("inclusion", "--vkey", vkey, "--checkpoint", str(tmp_path / "new.checkpoint"),
                     "--proof", str(tmp_path / "forged.json"))
    assert result.returncode == 1
    assert result.stdout.startswith("FAIL RootMismatchError") or "FAIL" in result.stdout


def test_the_offline_verifier_does_not_import_django():
    code = "import sys, licensing.verifier; print('django' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"})
    assert result.stdout.strip() == "False", result.stderr
