"""App config for `generation`."""

from django.apps import AppConfig


class GenerationConfig(AppConfig):
    """Model registry, training manifests, generation jobs, the gate and generator engines."""

    name = "generation"
    default_auto_field = "django.db.models.BigAutoField"
