"""App config for `licensing`."""

from django.apps import AppConfig


class LicensingConfig(AppConfig):
    """Catalog, licenses, opt-out registry, the append-only ledger and rights evaluation."""

    name = "licensing"
    default_auto_field = "django.db.models.BigAutoField"
