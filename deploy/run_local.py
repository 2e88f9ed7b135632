"""Run the scaled-out topology as local processes: web (gunicorn), three Celery workers on separate queues, beat.

    make topology                       # or: .venv/bin/python deploy/run_local.py [--port 8000] [--log-dir DIR]

The same shape as deploy/compose.yaml, without Docker, against the machine's PostgreSQL and Redis
(DATABASE_URL and CELERY_BROKER_URL, or their `_FILE` variants; defaults postgres://postgres@127.0.0.1:5432/clearcue
and redis://127.0.0.1:6379/0). It creates the database if it is missing, runs `migrate`, creates development
keys where none are configured (the ledger signing key, a watermark key, a development C2PA PKI, as `make demo`
does), then starts

- `web`: gunicorn on --host/--port,
- `worker-generate` (queue `generate`), `worker-seal` (`seal`), `worker-default` (`default,ingest,ledger`), each
  with its own Celery node name `<queue>-<tag>@<host>`,
- `beat` (one per deployment),

each in its own process group with its output in LOG_DIR/<name>.log. It waits until /readyz answers 200, every
worker answers a Celery ping and beat has started, prints what it started, and on SIGINT/SIGTERM stops every
process group (SIGTERM, then SIGKILL after --grace seconds; a second signal kills at once), leaving no process.

Tests import `topology()`, a context manager yielding a `Topology` (`base_url`, `log()`, the children).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/clearcue"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
# (process name, queues): the generate queue (torch) and the seal queue (signing keys) each get their own worker;
# the light queues share one.
WORKERS = (("worker-generate", "generate"), ("worker-seal", "seal"), ("worker-default", "default,ingest,ledger"))
BEAT_STARTED = "beat: Starting..."
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")

# Runs after migrate in a child process (with the topology's environment): the development key material the
# settings point at, for whatever is not configured; a key that exists is never replaced.
INIT_KEYS = """
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
if not settings.LEDGER_SIGNING_KEY:
    call_command("init_ledger_key", "--if-missing")
if settings.WATERMARK_BACKEND == "keyed" and not settings.WATERMARK_KEYS:
    call_command("init_watermark_key", "--if-missing")
chain = settings.C2PA_CERT_CHAIN_PATH
if not settings.C2PA_SIGNER_FACTORY and not chain.exists() and chain == settings.CLEARCUE_PKI_DIR / "chain.pem":
    call_command("init_pki")
"""


class TopologyError(RuntimeError):
    """A step failed or a process exited; the message names it and quotes the end of its log."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the launcher (BaseException, so `except Exception` blocks let it through)."""


@dataclass(frozen=True)
class Spec:
    """One process to start: its name, its command line and, for a worker, its Celery node name and queues."""

    name: str
    argv: tuple[str, ...]
    node: str = ""
    queues: str = ""


@dataclass
class Child:
    """A started process (the leader of its own process group) and its log file."""

    spec: Spec
    proc: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    @property
    def pid(self) -> int:
        """The process id, which is also its process group id."""
        return self.proc.pid


@dataclass
class Topology:
    """The running processes, where web answers and where each one logs."""

    base_url: str
    log_dir: Path
    env: dict[str, str]
    children: dict[str, Child] = field(default_factory=dict)
    ready_seconds: float = 0.0

    def log(self, name: str) -> str:
        """The log of process `name` so far."""
        return self.children[name].log_path.read_text(encoding="utf-8", errors="replace")

    def nodes(self) -> dict[str, str]:
        """Worker process name -> Celery node name."""
        return {name: child.spec.node for name, child in self.children.items() if child.spec.node}

    def check_alive(self) -> None:
        """Raise TopologyError if any process has exited."""
        for child in self.children.values():
            code = child.proc.poll()
            if code is not None:
                raise TopologyError(f"{child.spec.name} (pid {child.pid}) exited with status {code}; "
                                    f"log {child.log_path}:\n{_tail(child.log_path)}")

    def summary(self) -> str:
        """What was started: each process with its pid, role and log file, and the URLs to use."""
        database = _setting(self.env, "DATABASE_URL", ("postgres", "postgresql", "pgsql")) or ""
        broker = _setting(self.env, "CELERY_BROKER_URL", BROKER_SCHEMES) or ""
        lines = [f"Clearcue topology ready in {self.ready_seconds:.1f} s "
                 f"(database {_redact(database)}, broker {_redact(broker)})"]
        for name, child in self.children.items():
            if name == "web":
                role = f"gunicorn {self.base_url}/"
            elif child.spec.node:
                role = f"{child.spec.node}  queues {child.spec.queues}"
            else:
                role = "celery beat (periodic tasks)"
            lines.append(f"  {name:<16} pid {child.pid:<8} {role}")
            lines.append(f"  {'':<16} log {child.log_path}")
        lines += [f"  API {self.base_url}/api/v1/   docs {self.base_url}/api/docs/   admin {self.base_url}/admin/",
                  f"  health {self.base_url}/healthz   ready {self.base_url}/readyz",
                  f"  logs in {self.log_dir}"]
        return "\n".join(lines)


# --- Environment and commands ------------------------------------------------------------------------------------


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _setting(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    """A URL setting read the way clearcue.settings reads it (`_FILE` included, strict about schemes)."""
    from clearcue.env import Env

    return Env(env).url(name, schemes)


def child_environment(overrides: Mapping[str, str] | None, *, base_url: str) -> dict[str, str]:
    """This process's environment, `overrides` on top, and the local defaults for what is still unset."""
    env = {**os.environ, **(overrides or {})}
    for name, default in (("DATABASE_URL", DEFAULT_DATABASE_URL), ("CELERY_BROKER_URL", DEFAULT_BROKER_URL)):
        if name not in env and f"{name}_FILE" not in env:
            env[name] = default
    env.setdefault("DJANGO_SETTINGS_MODULE", "clearcue.settings")
    env.setdefault("CLEARCUE_PUBLIC_URL", base_url)
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the files as they happen
    database = _setting(env, "DATABASE_URL", ("postgres", "postgresql", "pgsql", "sqlite")) or ""
    if not database.startswith(("postgres", "pgsql")):
        raise TopologyError(f"DATABASE_URL must name PostgreSQL (several processes share it), got {_redact(database)}")
    if not _setting(env, "CELERY_BROKER_URL", BROKER_SCHEMES):
        raise TopologyError("CELERY_BROKER_URL must name Redis or RabbitMQ")
    return env


def plan(*, host: str, port: int, log_dir: Path, tag: str, web_workers: int = 2, concurrency: int = 1) -> list[Spec]:
    """The processes of the topology, in start order (same commands as deploy/Procfile, local paths)."""
    python = sys.executable
    specs = [Spec("web", (python, "-m", "gunicorn", "clearcue.wsgi", "--bind", f"{host}:{port}",
                          "--workers", str(web_workers), "--timeout", "60", "--access-logfile", "-"))]
    for name, queues in WORKERS:
        node = f"{queues.split(',')[0]}-{tag}@{socket.gethostname()}"
        specs.append(Spec(name, (python, "-m", "celery", "-A", "clearcue", "worker", "-Q", queues,
                                 "-c", str(concurrency), "-n", node, "-l", "INFO",
                                 "--without-gossip", "--without-mingle"), node=node, queues=queues))
    specs.append(Spec("beat", (python, "-m", "celery", "-A", "clearcue", "beat", "-l", "INFO",
                               "-s", str(log_dir / "celerybeat-schedule"))))
    return specs


# --- Preparation ----------------------------------------------------------------------------------------------------


def ensure_database(env: Mapping[str, str]) -> bool:
    """Create the PostgreSQL database DATABASE_URL names if it does not exist; True if it was created."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    url = _setting(env, "DATABASE_URL", ("postgres", "postgresql", "pgsql")) or ""
    url = "postgresql" + url[url.index(":"):]  # libpq knows postgres:// and postgresql:// only
    name = str(conninfo_to_dict(url).get("dbname") or "")
    try:
        psycopg.connect(url, connect_timeout=5).close()
        return False
    except psycopg.OperationalError as exc:
        if f'database "{name}" does not exist' not in str(exc):
            raise TopologyError(f"cannot connect to {_redact(url)}: {exc}") from None
    with psycopg.connect(url, dbname="postgres", autocommit=True, connect_timeout=5) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def _run_step(name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, timeout: float) -> float:
    """Run a preparation command to completion (log in LOG_DIR/<name>.log); its duration in seconds."""
    path = log_dir / f"{name}.log"
    started = time.monotonic()
    with path.open("wb") as log:
        result = subprocess.run(argv, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                                stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    if result.returncode != 0:
        raise TopologyError(f"{name} failed with status {result.returncode}; log {path}:\n{_tail(path)}")
    return time.monotonic() - started


def prepare(env: Mapping[str, str], log_dir: Path, *, init_keys: bool, say: Callable[[str], None]) -> None:
    """Create the database if needed, migrate, and create development keys where none are configured."""
    if ensure_database(env):
        say("created the database")
    seconds = _run_step("migrate", [sys.executable, "manage.py", "migrate", "--noinput"], env, log_dir, 600)
    say(f"migrate done in {seconds:.1f} s (log {log_dir / 'migrate.log'})")
    if init_keys:
        seconds = _run_step("init-keys", [sys.executable, "-c", INIT_KEYS], env, log_dir, 120)
        say(f"development keys checked in {seconds:.1f} s (log {log_dir / 'init-keys.log'})")


# --- Processes --------------------------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child before exec (Linux): get SIGTERM if the launcher dies, so a killed launcher leaves no orphans."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start(spec: Spec, env: Mapping[str, str], log_dir: Path) -> Child:
    """Start one process as the leader of a new session (its own process group), output to its log file."""
    path = log_dir / f"{spec.name}.log"
    log = path.open("wb")
    proc = subprocess.Popen(spec.argv, cwd=ROOT, env=dict(env), stdout=log, stderr=subprocess.STDOUT,  # noqa: S603
                            stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent)
    return Child(spec, proc, path, log)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


FORCE = threading.Event()  # set by a second signal: stop() kills what is left at once


def stop(children: list[Child], *, grace: float = 30.0) -> dict[str, int | None]:
    """SIGTERM every process group, wait up to `grace` seconds, SIGKILL what remains; return the exit statuses.

    Celery workers finish the tasks they hold (warm shutdown), gunicorn finishes its requests, beat stops.
    """
    for child in children:
        _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not FORCE.is_set():
        if all(child.proc.poll() is not None and not _group_alive(child.pid) for child in children):
            break
        time.sleep(0.1)
    for child in children:  # stragglers: a leader that would not stop, or pool processes it left behind
        if child.proc.poll() is None or _group_alive(child.pid):
            _signal_group(child.pid, signal.SIGKILL)
    statuses: dict[str, int | None] = {}
    for child in children:
        try:
            statuses[child.spec.name] = child.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            statuses[child.spec.name] = None
        child.log_file.close()
    return statuses


def _control_app(env: Mapping[str, str]) -> Any:
    """A bare Celery app on the topology's broker (same key prefix as clearcue.settings) to ping workers."""
    from celery import Celery

    from clearcue.env import Env

    app = Celery("clearcue-topology", broker=_setting(env, "CELERY_BROKER_URL", BROKER_SCHEMES), set_as_current=False)
    prefix = Env(env).str("CLEARCUE_BROKER_KEY_PREFIX")
    app.conf.broker_transport_options = {"global_keyprefix": prefix} if prefix else {}
    app.conf.broker_connection_retry_on_startup = True
    return app


def _web_ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:  # noqa: S310 (our own URL)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(topo: Topology, *, timeout: float, started: float) -> None:
    """Until web answers /readyz with 200, every worker answers a ping and beat has started (or TopologyError)."""
    waiting = {"web", "beat", *topo.nodes().values()}
    app = _control_app(topo.env)
    deadline = time.monotonic() + timeout
    try:
        with app.connection_for_write() as connection:
            while waiting and time.monotonic() < deadline:
                topo.check_alive()
                if "web" in waiting and _web_ready(topo.base_url):
                    waiting.discard("web")
                if "beat" in waiting and BEAT_STARTED in topo.log("beat"):
                    waiting.discard("beat")
                nodes = sorted(waiting - {"web", "beat"})
                if nodes:
                    for reply in app.control.ping(destination=nodes, timeout=0.5, connection=connection) or []:
                        waiting -= set(reply)
                else:
                    time.sleep(0.2)
    finally:
        app.close()
    if waiting:
        raise TopologyError(f"not ready within {timeout:.0f} s: {', '.join(sorted(waiting))}; logs in {topo.log_dir}")
    topo.ready_seconds = time.monotonic() - started


def free_port(host: str) -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def default_log_dir(env: Mapping[str, str]) -> Path:
    """DATA_DIR/topology (DATA_DIR as the settings resolve it, relative paths from the project root)."""
    data_dir = Path(env.get("CLEARCUE_DATA_DIR") or ROOT / "var")
    return (data_dir if data_dir.is_absolute() else ROOT / data_dir) / "topology"


@contextlib.contextmanager
def topology(env: Mapping[str, str] | None = None, log_dir: Path | None = None, *, host: str = "127.0.0.1",
             port: int = 0, web_workers: int = 2, concurrency: int = 1, tag: str | None = None,
             migrate: bool = True, init_keys: bool = False, ready_timeout: float = 120.0, grace: float = 30.0,
             say: Callable[[str], None] = lambda _: None) -> Iterator[Topology]:
    """Prepare, start and wait for the whole topology; stop every process when the block ends (however it ends).

    `env` goes on top of this process's environment for every child; port 0 picks a free port.
    """
    port = port or free_port(host)
    base_url = f"http://{host}:{port}"
    environment = child_environment(env, base_url=base_url)
    log_dir = Path(log_dir) if log_dir is not None else default_log_dir(environment)
    log_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if migrate:
        prepare(environment, log_dir, init_keys=init_keys, say=say)
    topo = Topology(base_url=base_url, log_dir=log_dir, env=environment)
    try:
        for spec in plan(host=host, port=port, log_dir=log_dir, tag=tag or str(os.getpid()),
                         web_workers=web_workers, concurrency=concurrency):
            topo.children[spec.name] = start(spec, environment, log_dir)
        wait_ready(topo, timeout=ready_timeout, started=started)
        yield topo
    finally:
        statuses = stop(list(topo.children.values()), grace=grace)
        if statuses:
            say("stopped: " + ", ".join(f"{name} {'killed' if code is None or code < 0 else f'exit {code}'}"
                                        for name, code in statuses.items()))


# --- Command line ---------------------------------------------------------------------------------------------------


def _install_signal_handlers() -> None:
    """The first SIGINT/SIGTERM raises Interrupted (the topology then stops in order); a second one forces it."""
    def handle(signum: int, _frame: Any) -> None:
        if FORCE.is_set() or getattr(handle, "seen", False):
            FORCE.set()
            print(f"\n{signal.Signals(signum).name} again: killing what is left", flush=True)
            return
        handle.seen = True  # type: ignore[attr-defined]
        print(f"\n{signal.Signals(signum).name}: stopping every process", flush=True)
        raise Interrupted

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)


def main(argv: list[str] | None = None) -> int:
    """Start the topology, print it, keep it up until a signal or until one of its processes dies."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="web listens here (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="web port (default 8000; 0 picks a free one)")
    parser.add_argument("--log-dir", type=Path, default=None, help="default: $CLEARCUE_DATA_DIR/topology")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    parser.add_argument("--concurrency", type=int, default=1, help="pool processes per Celery worker (default 1)")
    parser.add_argument("--no-init-keys", dest="init_keys", action="store_false",
                        help="do not create development keys where none are configured")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to finish running tasks on stop")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        print(message, flush=True)

    _install_signal_handlers()
    try:
        with topology(None, args.log_dir, host=args.host, port=args.port, web_workers=args.web_workers,
                      concurrency=args.concurrency, init_keys=args.init_keys, grace=args.grace, say=say) as topo:
            say(topo.summary())
            say("Ctrl-C (SIGINT) or SIGTERM stops everything.")
            while True:
                topo.check_alive()
                time.sleep(1)
    except Interrupted:
        say("all processes stopped")
        return 0
    except TopologyError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    if str(ROOT) not in sys.path:  # run as a script: the project's packages (clearcue.env) are importable
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
