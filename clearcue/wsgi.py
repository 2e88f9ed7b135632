"""WSGI entry point (gunicorn clearcue.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clearcue.settings")
application = get_wsgi_application()
