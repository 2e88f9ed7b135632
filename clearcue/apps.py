"""App config for the project package (tenancy and API access)."""

from django.apps import AppConfig


class ClearcueConfig(AppConfig):
    """Organizations, memberships, API keys and the API plumbing."""

    name = "clearcue"
    verbose_name = "Clearcue: tenancy and access"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from clearcue import lookups  # noqa: F401  (registers the `__any` lookup)
