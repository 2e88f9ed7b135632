"""The admin console end to end in a real browser (headless Debian Chromium through Playwright): logging in,
uploading a catalog and watching its progress bar, downloading the error report of bad rows, registering an
opt-out, and following a completed job to its audit report and license-chain picture. Each flow ends with a
full-page screenshot (see tests/browser/conftest.py for where they go).

Every assertion is made on what the page shows (waiting on the DOM, never sleeping), then checked against the
database.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from generation.models import Job, JobState
from licensing.models import CatalogImport, EntryType, LedgerEntry, OptOut, Work
from licensing.terms import ReservedUse, reserved_of
from provenance.models import LicenseGraph
from tests.browser.conftest import log_in
from tests.generation import studio
from tests.licensing.catalog_helpers import ASSETS

pytestmark = pytest.mark.browser
CATALOG = ASSETS / "catalog"
FINISHED = 60_000  # ms: an import of a few rows, including a worker's start-up


def expect(target: Any) -> Any:
    """Playwright's `expect` (imported late: without playwright installed the tests are skipped, not broken)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(target)


def exactly(text: str) -> re.Pattern[str]:
    """Matches an element whose whole text is `text` (a box's `<title>`, not the edges naming it)."""
    return re.compile(f"^{re.escape(text)}$")


def with_real_worker() -> bool:
    """Whether a real `ingest` worker can process the import: PostgreSQL (a worker process must share the test
    database) and a broker (CELERY_BROKER_URL), as CI has."""
    on_postgres = django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    return on_postgres and not django_settings.CELERY_TASK_ALWAYS_EAGER


class Ingest:
    """Runs the catalog import the upload queued, once the test says so (see the progress-bar test)."""

    def __init__(self, stack: ExitStack, monkeypatch: pytest.MonkeyPatch) -> None:
        from clearcue.celery import app
        from licensing import tasks

        self.real_worker = with_real_worker()
        self.mode = "a real Celery worker on the ingest queue" if self.real_worker else "in-process"
        self._stack = stack
        self._task = tasks.run_import
        self._queued: list[int] = []
        if self.real_worker:
            # The upload's task goes to the broker and waits there: no worker consumes `ingest` yet.
            stack.callback(setattr, app.conf, "task_always_eager", app.conf.task_always_eager)
            app.conf.task_always_eager = False
        else:
            monkeypatch.setattr(tasks, "run_import", self)  # the action enqueues through `run_import.delay`

    def delay(self, import_id: int) -> None:
        """Stands in for the task's `delay` in-process: remember the import; `start` runs it."""
        self._queued.append(import_id)

    def start(self) -> None:
        """Begin processing: start the worker, or run the queued task's code in this process."""
        if self.real_worker:
            from tests.worker import celery_worker

            self._stack.enter_context(celery_worker("ingest", pool="solo"))  # solo: stops at once when done
            return
        assert self._queued, "the upload queued no import"
        for import_id in self._queued:
            self._task.apply(args=[import_id])


@pytest.fixture
def ingest(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ingest]:
    with ExitStack() as stack:
        yield Ingest(stack, monkeypatch)


def upload(page: Any, path: Path, collection: str) -> int:
    """Upload a catalog through the admin's upload form; returns the import's id from the page it lands on."""
    page.goto("/admin/licensing/catalogimport/add/")
    expect(page.locator("h1")).to_have_text("Upload a catalog")
    page.set_input_files("#id_file", str(path))
    page.fill("#id_collection", collection)
    page.fill("#id_collection_name", f"{collection.title()} (browser test)")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/licensing/catalogimport/*/change/")
    return int(page.url.rstrip("/").split("/")[-2])


def test_a_staff_member_logs_into_the_admin_with_username_and_password(page, console_user, shoot):
    log_in(page, console_user, password="not-the-password")
    expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")
    expect(page.locator("#user-tools")).to_have_count(0)

    log_in(page, console_user)
    page.wait_for_url("**/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text(console_user.get_username())
    for model in ("Catalog imports", "Opt-outs", "Jobs"):
        expect(page.locator("#content-main")).to_contain_text(model)
    # Styled: the admin's stylesheet was served by the live server (the header is not the browser's default).
    assert page.evaluate("getComputedStyle(document.querySelector('#header')).display") == "flex"
    shoot(page, "admin-index")


def test_an_uploaded_catalog_shows_its_progress_bar_moving_to_100_percent(admin_page, operator_org, ingest, shoot):
    """The import page polls `.../progress/` and updates the bar in place until the import finishes.

    Where the environment allows it (PostgreSQL + CELERY_BROKER_URL, as in CI) the import runs on a real Celery
    worker on the `ingest` queue, started only once the page shows the import queued, so the bar moves because a
    separate process did the work. Elsewhere (SQLite) the queued task runs in this process while the page's
    timers are paused (Playwright's clock), so no poll meets the import half-written; then time resumes and the
    page's own polling brings the bar to 100%.
    """
    page = admin_page
    print(f"catalog import runs on: {ingest.mode}")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if request.url.endswith("/progress/") else None)
    if not ingest.real_worker:
        page.clock.install()
        page.clock.pause_at(page.evaluate("Date.now()") / 1000 + 1)
    import_id = upload(page, CATALOG / "small.csv", "nordlys")

    progress = page.locator("#import-progress")
    expect(page.locator("#import-status")).to_have_text("queued")
    expect(progress).to_have_js_property("value", 0)
    expect(page.locator("#import-percent")).to_have_text("0")
    # Record every value the bar takes from here on; a reload would lose the record (and fail the test).
    page.evaluate("""() => {
        const bar = document.getElementById("import-progress");
        window.seenPercents = [bar.value];
        new MutationObserver(() => window.seenPercents.push(bar.value))
            .observe(bar, {attributes: true, attributeFilter: ["value"]});
    }""")
    if not ingest.real_worker:
        assert polls == [], "the page polled while its clock was paused"
    ingest.start()
    if not ingest.real_worker:
        page.clock.resume()

    expect(page.locator("#import-status")).to_have_text("completed", timeout=FINISHED)
    expect(progress).to_have_js_property("value", 100)
    expect(page.locator("#import-percent")).to_have_text("100")
    expect(page.locator("#import-rows")).to_have_text("4 / 4")
    expect(page.locator("#import-created")).to_have_text("4")  # the counts follow the bar, without a reload
    expect(page.locator("#import-rejected")).to_have_text("0")
    seen = page.evaluate("window.seenPercents")
    print(f"progress values the page showed: {seen}")
    assert seen[0] == 0 and seen[-1] == 100 and seen == sorted(seen)
    assert polls, "the bar reached 100% without the page polling"
    expect(page.locator("#row-errors")).to_have_count(0)
    shoot(page, "import-completed")

    catalog_import = CatalogImport.objects.get(pk=import_id)
    assert (catalog_import.status, catalog_import.rows_created, catalog_import.rows_rejected) == ("completed", 4, 0)
    assert sorted(Work.objects.values_list("source_key", flat=True)) == ["NL-001", "NL-002", "NL-003", "NL-004"]

    # The changelist shows the finished import with a full bar.
    page.goto("/admin/licensing/catalogimport/")
    row = page.locator("#result_list tbody tr", has_text="nordlys")
    expect(row).to_contain_text("Completed")
    expect(row.locator("progress")).to_have_js_property("value", 100)


def test_the_error_report_of_a_catalog_with_bad_rows_downloads_with_each_rejected_row(admin_page, operator_org,
                                                                                      shoot):
    """Tasks run in-process here (the worker path is the progress-bar test's): the page opens finished."""
    page = admin_page
    import_id = upload(page, CATALOG / "bad_rows.csv", "ruiz")
    expect(page.locator("#import-status")).to_have_text("completed")
    expect(page.locator("#import-rejected")).to_have_text("4")
    table = page.locator("#row-errors tr").all_inner_texts()[1:]  # the rows the page lists, header dropped
    shown = {tuple(cell.strip() for cell in line.split("\t")[:3]) for line in table}

    with page.expect_download() as caught:
        page.click("#error-report")
    download = caught.value
    assert download.suggested_filename == f"import-{import_id}-errors.csv"
    report = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    found = {(r["row"], r["column"], r["code"]) for r in report}
    rejected = {("2", "title", "required"), ("3", "iswc", "invalid_iswc"), ("4", "license_uses", "unknown_use"),
                ("4", "license_territories", "invalid_territory"), ("4", "license_valid_from", "invalid_date"),
                ("5", "work_id", "duplicate_work_id")}
    assert rejected <= found, found
    assert {r["row"] for r in report} == {"2", "3", "4", "5"}  # the four rejected rows, and only those
    assert shown == found  # the page lists the same errors as the file
    shoot(page, "error-report")

    assert sorted(Work.objects.values_list("source_key", flat=True)) == ["BR-1", "BR-6"]
    assert CatalogImport.objects.get(pk=import_id).rows_rejected == 4


def test_an_opt_out_registered_in_the_console_is_listed_and_ledgered(admin_page, operator_org, shoot):
    page = admin_page
    page.goto("/admin/licensing/optout/")
    page.click(".object-tools a.addlink")  # the changelist's own button (the sidebar has one per model)
    expect(page.locator("h1")).to_have_text("Register an opt-out")
    page.select_option("#id_subject_kind", "creator_name")
    page.fill("#id_subject", "Per Holm")
    page.check("input[name=reserved][value=ai_training]")
    page.check("input[name=reserved][value=generative_training]")
    page.fill("#id_statement", "Per Holm reserves his works against AI training (letter of 21 Nov 2026).")
    page.click("input[type=submit]")

    page.wait_for_url("**/admin/licensing/optout/")
    optout = OptOut.objects.get()
    expect(page.locator(".messagelist")).to_contain_text(
        f"Opt-out {optout.pk} registered (ledger entry {optout.ledger_index}).")
    row = page.locator("#result_list tbody tr", has_text="per holm")
    expect(row).to_have_count(1)
    expect(row.locator("td.field-subject_value")).to_have_text("per holm")
    expect(row).to_contain_text("creator_name")
    expect(row).to_contain_text("ai_training, generative_training")
    expect(row).to_contain_text("direct")
    shoot(page, "opt-out-listed")

    # Creator names are stored normalized (matching is case- and spacing-insensitive); the statement verbatim.
    assert (optout.subject_kind, optout.subject_value, optout.source) == ("creator_name", "per holm", "direct")
    assert set(reserved_of(optout.reserved_mask)) == {ReservedUse.AI_TRAINING, ReservedUse.GENERATIVE_TRAINING}
    assert optout.evidence["console"] == {"statement": "Per Holm reserves his works against AI training "
                                                       "(letter of 21 Nov 2026).", "by": "sam.staff"}
    entry = LedgerEntry.objects.get(leaf_index=optout.ledger_index)
    assert entry.entry_type == EntryType.OPTOUT_REGISTERED and entry.subject_id == str(optout.pk)


@pytest.fixture
def completed_job(operator_org, org_a, org_b, client_a, settings, tmp_path, ledger_key, data_dir) -> Job:
    """A job of client A run to completion through the API (tasks in-process), sealed with a license chain."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = data_dir
    world = studio.build(operator_org, org_a, org_b)
    tag, _ = studio.style_tag_with_creator(world.model)  # a style reference: the chain reaches works and licenses
    body = studio.request(world.model, formats=["wav", "midi"], style_tags=[tag])
    response = client_a.api.post("/api/v1/jobs/", body, format="json", HTTP_IDEMPOTENCY_KEY="browser-1")
    assert response.status_code == 201, response.json()
    job = Job.objects.get(pk=response.json()["id"])
    assert job.state == JobState.COMPLETED, (job.outcome_code, job.outcome_message)
    return job


def test_a_completed_jobs_audit_report_and_license_chain_picture_open_from_the_admin(admin_page, completed_job,
                                                                                     shoot):
    page, job = admin_page, completed_job
    graph = LicenseGraph.objects.get(job=job)
    page.goto("/admin/generation/job/")
    page.locator("#result_list tbody tr", has_text="completed").locator("th a").click()
    expect(page.locator("#content > h2").first).to_have_text(f"job {job.pk} (completed)")
    expect(page.locator(".field-reports")).to_contain_text("license-chain picture")
    shoot(page, "job-page")

    # The audit report (HTML): the job, its gate decisions (both allowed), and the license chain drawn inline.
    page.click("#job-audit-report")
    page.wait_for_url(f"**/api/v1/jobs/{job.pk}/audit-report")
    expect(page.locator("h1")).to_have_text(f"Audit report: job {job.pk}")
    expect(page.locator("body")).to_contain_text(job.idempotency_key)
    expect(page.locator("h3", has_text="pre: allowed")).to_be_visible()
    expect(page.locator("h3", has_text="post: allowed")).to_be_visible()
    picture = page.locator(".graph svg.license-chain")
    expect(picture).to_be_visible()
    assert picture.bounding_box()["width"] > 400  # drawn, not collapsed to nothing
    reference = f"{job.organization.slug}/{job.idempotency_key}"
    expect(picture.locator("title", has_text=exactly(f"job:{reference}"))).to_have_count(1)  # the job's box
    expect(picture.locator("title", has_text=re.compile(r"^license:[^→]*$")).first).to_be_attached()
    expect(page.locator("body")).to_contain_text(graph.digest)
    shoot(page, "audit-report")

    # The same report as PDF, fetched with the browser's session.
    page.go_back()
    pdf = page.request.get(page.locator("#job-audit-report-pdf").get_attribute("href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:5] == b"%PDF-"

    # The license-chain picture on its own.
    with page.expect_navigation() as navigation:
        page.click("#job-license-graph")
    response = navigation.value
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["x-graph-digest"] == graph.digest
    root = page.locator("svg.license-chain")
    expect(root).to_be_visible()
    expect(root.locator("text", has_text=f"License chain of job {job.pk}")).to_be_visible()
    expect(root.locator("title", has_text=exactly(f"output:{reference}"))).to_have_count(1)  # the output's box
    shoot(page, "license-chain")
