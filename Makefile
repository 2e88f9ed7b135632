# Clearcue developer commands. `make demo` and `make test` are the two a newcomer runs (see README).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck venv migrate serve worker workers beat topology superuser clean

## Environment: a virtualenv with torch's CPU build installed first, so nothing can pull a CUDA build.
venv: $(STAMP)
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Clearcue needs Python 3.11")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## 1. The main job (embedded: SQLite + in-process tasks unless DATABASE_URL / CELERY_BROKER_URL are set).
demo: venv migrate
	@# ffmpeg makes the metadata-stripped MP3 copy the demo verifies; FluidSynth renders with a General MIDI
	@# SoundFont (without it the built-in synthesizer plays the cue). Each is skipped with a message if it cannot be installed.
	@scripts/ensure_debian_package.sh ffmpeg ffmpeg "the demo's metadata-stripped MP3 copy"
	@scripts/ensure_debian_package.sh fluidsynth fluidsynth "rendering with a General MIDI SoundFont"
	$(PY) manage.py demo

## 2. The whole test suite (PostgreSQL when DATABASE_URL is set, SQLite otherwise), after the linter.
test: venv lint typecheck
	@# FluidSynth (with its General MIDI SoundFont) renders cues in its tests; ffmpeg encodes MP3/M4A deliverables
	@# and decodes compressed uploads for verification.
	@# Debian's Chromium (with its driver) runs the browser tests of the admin console through Playwright.
	@scripts/ensure_debian_package.sh fluidsynth fluidsynth "the FluidSynth renderer tests"
	@scripts/ensure_debian_package.sh ffmpeg ffmpeg "MP3/M4A sealing and verification of compressed uploads"
	@scripts/ensure_debian_package.sh chromium chromium "the browser tests of the admin console"
	@scripts/ensure_debian_package.sh chromedriver chromium-driver "the browser tests of the admin console"
	$(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy --strict --follow-imports=silent \
		licensing/merkle.py licensing/note.py licensing/verifier.py licensing/canonical.py clearcue/env.py clearcue/apikeys.py clearcue/lookups.py \
		licensing/terms.py licensing/catalog_format.py licensing/prepared.py licensing/tdmrep.py licensing/aipref.py \
		licensing/liccium.py licensing/cawg.py licensing/inband.py licensing/rights_columnar.py licensing/rights_statements.py licensing/reference_corpus.py \
		generation/manifest.py generation/engines/score.py generation/engines/instruments.py generation/engines/base.py \
		generation/engines/synth.py generation/engines/export.py generation/engines/fluidsynth.py \
		generation/engines/reference/plan.py generation/engines/reference/vocab.py generation/engines/reference/arrange.py \
		generation/engines/reference/corpus.py generation/engines/reference/metrics.py generation/gate.py generation/names.py \
		provenance/watermark.py provenance/watermark_keyed.py provenance/watermark_audioseal.py provenance/payloads.py \
		provenance/indemnity.py provenance/pki.py provenance/credentials.py provenance/media.py \
		provenance/graph.py provenance/drawing.py provenance/attribution.py

migrate: venv
	$(PY) manage.py migrate --noinput

serve: migrate
	$(PY) manage.py runserver 127.0.0.1:8000

## Workers: one per queue scales each kind of work separately (needs CELERY_BROKER_URL).
worker: venv
	$(PY) -m celery -A clearcue worker -Q $${QUEUES:-default,ingest,generate,seal,ledger} -l INFO

beat: venv
	$(PY) -m celery -A clearcue beat -l INFO -s $${CLEARCUE_DATA_DIR:-var}/celerybeat-schedule

## The scaled-out topology as local processes (web + 3 workers + beat) on this machine's PostgreSQL and Redis.
topology: venv
	$(PY) deploy/run_local.py

superuser: migrate
	$(PY) manage.py createsuperuser

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
