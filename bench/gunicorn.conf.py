"""gunicorn settings for the bench's requests-per-second figures: the same for the poll
endpoint and the bare view. The bench passes the address in BENCH_GUNICORN_BIND.

One worker process: with two, wrk's keep-alive connections landed all on one worker in some
rounds and spread over both in others, so every endpoint's rate jumped between ~600 and
~1,700 req/s from round to round (and a poll could show 150 % of hello). The figure is a
ratio of per-request costs, which one process measures without that lottery."""

import os

wsgi_app = "accessmgr.wsgi:application"
bind = os.environ.get("BENCH_GUNICORN_BIND", "127.0.0.1:8765")
worker_class = "gthread"
workers = int(os.environ["BENCH_GUNICORN_WORKERS"])  # set by bench/env.py
threads = int(os.environ["BENCH_GUNICORN_THREADS"])
keepalive = 5
accesslog = None
errorlog = "-"
loglevel = "warning"
