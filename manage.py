#!/usr/bin/env python
import os
import sys
from pathlib import Path

from dotenv import load_dotenv

# `make run` writes the development settings it serves with (DEBUG=1, and DATABASE_URL when
# given) to var/dev.env, so the README's commands run in the same setting in that checkout.
# Variables already in the environment win; without the file nothing changes.
DEV_ENV = Path(os.environ.get("VAR_DIR") or Path(__file__).resolve().parent / "var") / "dev.env"

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessmgr.settings")
    load_dotenv(DEV_ENV, override=False)
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # a missing or bad setting: one line, not a traceback
        sys.exit(f"ImproperlyConfigured: {exc}")
