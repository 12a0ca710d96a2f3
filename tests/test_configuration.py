"""docs/configuration.md documents every environment variable the code reads, once."""

import re

from .conftest import ROOT

DOC = (ROOT / "docs" / "configuration.md").read_text()
READERS = [ROOT / "accessmgr" / "settings.py", ROOT / "gunicorn.conf.py"]
ENV_READ = re.compile(r"""(?:env_\w+|os\.environ\.get|_env_number)\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def variables_read() -> set[str]:
    names = set()
    for path in READERS:
        names |= set(ENV_READ.findall(path.read_text()))
    return names


def test_the_scan_finds_the_variables():
    names = variables_read()
    assert {
        "DEBUG",
        "SECRET_KEY",
        "DATABASE_URL",
        "LOG_FORMAT",
        "GUNICORN_BIND",
        "STATICFILES_MANIFEST",
    } <= names


def test_every_variable_is_documented():
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", DOC))
    missing = sorted(variables_read() - documented)
    assert not missing, f"add these to docs/configuration.md: {missing}"
