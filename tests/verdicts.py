"""Every JSON verdict the project's tests produce matches the schema the package ships.

``load`` reads and validates one report (for tests that read it); ``invalid_reports`` finds every
verdict file under a directory (the autouse check in tests/conftest.py runs it over each test's
``tmp_path`` and ``pytester`` directory, so a report no test reads is validated too).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from pytest_podnet import htmlreport, report

_VALIDATOR = jsonschema.Draft202012Validator(htmlreport.schema())
#: Larger files are no verdict of ours (a quick profile's is a few kB, the full suite's ~60 kB).
_MAX_BYTES = 5_000_000


def errors(document: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in _VALIDATOR.iter_errors(document)
    ]


def validate(document: Any, where: str = "verdict") -> dict[str, Any]:
    found = errors(document)
    assert not found, f"{where} does not match the shipped schema {report.JSON_SCHEMA}: {found}"
    assert isinstance(document, dict)
    return document


def load(path: str | Path) -> dict[str, Any]:
    """The JSON verdict at ``path``, checked against the shipped schema."""
    return validate(json.loads(Path(path).read_text(encoding="utf-8")), str(path))


def invalid_reports(directory: Path) -> dict[str, list[str]]:
    """Verdict files (``"schema": "pytest-podnet/verdict/..."``) under ``directory`` that do not
    match the schema, with their errors."""
    bad: dict[str, list[str]] = {}
    for path in directory.rglob("*.json"):
        if not path.is_file() or path.stat().st_size > _MAX_BYTES:
            continue
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        schema = document.get("schema") if isinstance(document, dict) else None
        if isinstance(schema, str) and schema.startswith("pytest-podnet/verdict/"):
            found = errors(document)
            if found:
                bad[str(path)] = found
    return bad
