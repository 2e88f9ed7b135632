"""Clearcue's Django project package (the design's "platform" package; see README)."""

from clearcue.celery import app as celery_app

__all__ = ["celery_app"]
