"""gunicorn settings for the bench's requests-per-second figures: the same for the poll
endpoint and the bare view. The bench passes the address in BENCH_GUNICORN_BIND."""

import os

wsgi_app = "accessmgr.wsgi:application"
bind = os.environ.get("BENCH_GUNICORN_BIND", "127.0.0.1:8765")
worker_class = "gthread"
workers = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("BENCH_GUNICORN_THREADS", "4"))
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
