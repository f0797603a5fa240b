"""WSGI entry point: ``gunicorn -w 2 wsgi:app`` (index from SEARCHSVC_INDEX, default ./index)."""

from searchsvc.web import create_app

app = create_app()
