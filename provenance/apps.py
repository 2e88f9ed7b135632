"""App config for `provenance`."""

from django.apps import AppConfig


class ProvenanceConfig(AppConfig):
    """Watermarking, C2PA manifests, license-chain graph, attribution and verification."""

    name = "provenance"
    default_auto_field = "django.db.models.BigAutoField"
