"""deploy/ stays consistent with the code: compose.yaml runs the Procfile's commands and mounts every secret a
service's environment names; env.example documents exactly the variables the settings read; grants.sql covers
exactly the append-only tables; every queue has a worker. Docker cannot run here, so these read the files."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from django.apps import apps

from clearcue.celery import app as celery_app
from deploy.run_local import WORKERS, TopologyError, child_environment, plan
from licensing.models import APPEND_ONLY_TRIGGERS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
APP_IMAGE_SERVICES = {"migrate", "web", "worker-default", "worker-ingest", "worker-generate", "worker-seal",
                      "worker-ledger", "beat"}
# Read with os.environ directly, outside the settings module (generation/engines/fluidsynth.py).
NON_SETTINGS_VARIABLES = {"CLEARCUE_SOUNDFONT"}


def procfile() -> dict[str, str]:
    lines = (DEPLOY / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def env_example() -> tuple[dict[str, str], set[str]]:
    """(variables set, every variable named, commented lines included)."""
    values, named = {}, set()
    for line in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            named.add(match.group(2))
            if not match.group(1):
                values[match.group(2)] = match.group(3)
    return values, named


def settings_variables() -> set[str]:
    source = (ROOT / "clearcue" / "settings.py").read_text(encoding="utf-8")
    return set(re.findall(r"env\.\w+\(\s*\"([A-Z][A-Z0-9_]+)\"", source))


def test_compose_runs_every_procfile_process_with_the_same_command():
    services = compose()["services"]
    for kind, command in procfile().items():
        assert kind in services, f"Procfile process {kind} has no compose service"
        assert shlex.split(services[kind]["command"]) == shlex.split(command), kind
    assert APP_IMAGE_SERVICES - {"migrate"} == set(procfile())
    for name in APP_IMAGE_SERVICES:
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile", name
    assert {"postgres", "redis", "minio", "minio-init"} <= set(services)


def test_every_queue_has_a_worker_in_the_procfile_and_in_the_local_topology():
    queues = {q.name for q in celery_app.conf.task_queues}
    served = {q for command in procfile().values() if " worker " in command
              for q in shlex.split(command)[shlex.split(command).index("-Q") + 1].split(",")}
    assert served == queues
    assert {q for _, names in WORKERS for q in names.split(",")} == queues
    routed = {route["queue"] for route in celery_app.conf.task_routes.values()}
    assert routed <= queues


def test_each_service_mounts_every_secret_its_environment_names():
    document = compose()
    declared = set(document["secrets"])
    common, _ = env_example()  # compose reads a copy of env.example as clearcue.env
    for name, service in document["services"].items():
        mounted = set(service.get("secrets", []))
        assert mounted <= declared, (name, mounted - declared)
        if name == "minio":  # MinIO resolves its *_FILE names under /run/secrets
            assert {v for k, v in service["environment"].items() if k.endswith("_FILE")} <= mounted
        if name not in APP_IMAGE_SERVICES:
            continue
        # Clearcue reads every *_FILE at startup: a missing mount stops the process.
        for variable, value in {**common, **service.get("environment", {})}.items():
            if str(value).startswith("/run/secrets/"):
                assert str(value).removeprefix("/run/secrets/") in mounted, (name, variable, value)
    # Least privilege: only the seal workers can sign manifests; the generate workers hold no key at all.
    services = document["services"]
    assert [n for n, s in services.items() if "c2pa_signer_key" in s.get("secrets", [])] == ["worker-seal"]
    assert set(services["worker-generate"]["secrets"]) == {"django_secret_key", "database_url", "s3_secret_key"}
    assert "database_owner_url" in services["migrate"]["secrets"]
    assert all("database_owner_url" not in s.get("secrets", []) for n, s in services.items() if n != "migrate")


def test_env_example_documents_exactly_the_variables_the_settings_read():
    values, named = env_example()
    documented = {name.removesuffix("_FILE") for name in named}
    read = settings_variables()
    assert read - documented == set(), "read by clearcue/settings.py but missing from deploy/env.example"
    assert documented - read - NON_SETTINGS_VARIABLES == set(), "in deploy/env.example but read by nothing"
    for name in values:  # a secret set in the common file comes from a file, never inline
        assert name.endswith("_FILE") or not re.search(r"SECRET|PASSWORD|SIGNING_KEY$|WATERMARK_KEYS$", name), name


def test_grants_keep_every_append_only_table_insert_and_select_only():
    tables = {m._meta.db_table for m in apps.get_models() if getattr(m._meta, "triggers", None) == APPEND_ONLY_TRIGGERS}
    sql = (DEPLOY / "grants.sql").read_text(encoding="utf-8")
    excluded = set(re.findall(r"'(\w+)'", sql.split("NOT IN", 1)[1].split(")", 1)[0]))
    assert excluded == tables, {"missing": tables - excluded, "not append-only": excluded - tables}
    def tables_in(pattern: str) -> set[str]:
        return {t for listed in re.findall(pattern, sql, re.S) for t in re.findall(r"\w+", listed)}

    revoked = tables_in(r"REVOKE ALL ON TABLE (.*?) FROM")
    assert revoked == tables_in(r"GRANT SELECT, INSERT ON TABLE (.*?) TO") == tables


def test_the_local_topology_names_its_workers_apart_and_refuses_sqlite(tmp_path):
    specs = plan(host="127.0.0.1", port=8123, log_dir=tmp_path, tag="t1")
    assert [s.name for s in specs] == ["web", "worker-generate", "worker-seal", "worker-default", "beat"]
    nodes = [s.node for s in specs if s.node]
    assert len(set(nodes)) == 3 and nodes[0].startswith("generate-t1@") and nodes[1].startswith("seal-t1@")
    with pytest.raises(TopologyError, match="PostgreSQL"):
        child_environment({"DATABASE_URL": "sqlite:///x.sqlite3"}, base_url="http://127.0.0.1:8123")
