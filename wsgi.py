"""WSGI entry point for another server (index from SEARCHSVC_INDEX, default ./index).

`searchsvc serve` is the way to run it: gunicorn with the connection limits and timeouts,
metrics added up over the workers and one rate limit for all of them. Here each process
counts its own metrics and rate limit (unless PROMETHEUS_MULTIPROC_DIR is set)."""

from searchsvc.web import create_app

app = create_app()
