"""``podnet report``: the Allure results and the JSON verdict of a run into one HTML report.

Allure 3 (the npm package ``allure``, pinned ``ALLURE_VERSION``) is installed by the project's
own set-up (``scripts/install.sh --report``) or on first use, with ``npm install --prefix`` into
``~/.cache/pytest-podnet/allure/<version>/`` (``PODNET_CACHE_DIR`` moves the root). The report is
one self-contained file (Allure's ``singleFile`` mode): it opens from ``file://`` and loads
nothing from anywhere else (``external_loads`` checks that after every build).

What the report adds to the Allure results, in a scratch copy (the results directory is never
changed): the pictures of ``pictures.write_pictures`` (written beside the JSON verdict too, in
``<verdict>.d/``): each check's matrix pictures, when the run had no matplotlib to attach them,
and the run's convergence timings attached to every check that measured one and to the report
itself (a global attachment).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from pytest_podnet import allure_labels, pictures, report
from pytest_podnet.localcluster import paths

#: Allure 3 from npm, the newest 3.x on the registry when pinned (``npm view allure versions``).
ALLURE_VERSION: Final = "3.18.0"
SCHEMA_RESOURCE: Final = "schema/verdict-v2.schema.json"
#: Seconds ``npm install`` may take (159 packages, 8 s here with a warm npm cache).
NPM_INSTALL_SECONDS: Final = 600
#: Seconds ``allure generate`` may take (0.6 s by hand for the quick profile).
GENERATE_SECONDS: Final = 300
#: Allure groups the report by these labels: guarantee, suite module, check.
GROUP_BY: Final = ("epic", "feature", "story")

#: Anything in the HTML that would make a browser fetch from elsewhere: a src/href/action/
#: poster attribute, a CSS url() or @import, or a fetch/import of an absolute or scheme-relative
#: URL. XML namespace ids (``xmlns="http://www.w3.org/2000/svg"``) are names, not loads.
_LOADS = re.compile(
    r"""(?:\b(?:src|href|action|poster|srcset)\s*=\s*["']?\s*"""
    r"""|url\(\s*["']?\s*|@import\s+["']?\s*|\bimport\(\s*["']|\bfetch\(\s*["'])"""
    r"""((?:https?:|wss?:|ftp:)?//[^"'\s)>]+)""",
    re.IGNORECASE,
)


#: Allure 3.18's report templates always add Google Analytics (``analyticsEnable: true`` is
#: hard-coded in plugin-awesome; ``ALLURE_NO_ANALYTICS`` only reaches plugin-allure2): the gtag
#: loader and its config script, cut out of the generated page.
_ANALYTICS = re.compile(
    r"<script async src=\"https://www\.googletagmanager\.com/gtag/js\?id=[^\"]*\"></script>"
    r"\s*<script>\s*window\.dataLayer = .*?</script>",
    re.DOTALL,
)


class ReportError(Exception):
    """The report could not be built: the message says why and how to fix it."""


@dataclass(frozen=True)
class Built:
    index: Path
    pictures: list[Path]
    checks: int


def schema() -> dict[str, Any]:
    """The JSON Schema of the verdict (package data)."""
    text = resources.files("pytest_podnet").joinpath(SCHEMA_RESOURCE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validation_errors(document: Mapping[str, Any]) -> list[str]:
    """Every way ``document`` breaks the schema (needs jsonschema, the ``report`` extra)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    ]


def allure_dir(version: str = ALLURE_VERSION) -> Path:
    return paths.cache_root() / "allure" / version


def allure_bin(version: str = ALLURE_VERSION) -> Path:
    return allure_dir(version) / "node_modules" / "allure" / "cli.js"


def install_allure(version: str = ALLURE_VERSION) -> Path:
    """``npm install --prefix`` the pinned Allure into the cache unless there; its cli.js."""
    cli = allure_bin(version)
    if cli.is_file():
        return cli
    npm = shutil.which("npm")
    if npm is None:
        raise ReportError(
            "npm is not installed: `apt-get install npm` (Debian), or scripts/install.sh --report"
        )
    target = allure_dir(version)
    target.mkdir(parents=True, exist_ok=True)
    command = [
        npm,
        "install",
        "--prefix",
        str(target),
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        f"allure@{version}",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=NPM_INSTALL_SECONDS, check=False
    )
    if done.returncode != 0 or not cli.is_file():
        raise ReportError(
            f"`{' '.join(command)}` failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )
    return cli


def external_loads(html: str) -> list[str]:
    """The URLs ``html`` would load from anywhere but itself (empty for a good report)."""
    return sorted(set(_LOADS.findall(html)))


def build(
    results: str | Path,
    verdict: str | Path,
    output: str | Path,
    *,
    name: str = "pytest-podnet verdict",
    install: bool = True,
) -> Built:
    """Build the HTML report of one run into ``output``; ``output/index.html`` is the report."""
    results_dir, verdict_path, out = Path(results), Path(verdict), Path(output)
    if not results_dir.is_dir():
        raise ReportError(
            f"no Allure results in {results_dir}: run pytest with --alluredir={results_dir}"
        )
    try:
        document = json.loads(verdict_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ReportError(
            f"cannot read the JSON verdict {verdict_path} ({err}): run pytest with "
            f"--podnet-report={verdict_path}"
        ) from None
    if document.get("schema") != report.JSON_SCHEMA:
        raise ReportError(
            f"{verdict_path} is {document.get('schema')!r}, this podnet reads {report.JSON_SCHEMA}"
        )
    if not pictures.available():
        raise ReportError(f"matplotlib is not installed: {pictures.INSTALL_HINT}")
    errors = validation_errors(document)
    if errors:
        raise ReportError(f"{verdict_path} does not match its schema: " + "; ".join(errors[:5]))
    cli = install_allure() if install else allure_bin()
    if not cli.is_file():
        raise ReportError(f"Allure {ALLURE_VERSION} is not installed: drop --no-install")
    drawn = pictures.write_pictures(document, verdict_path.with_name(verdict_path.name + ".d"))
    with tempfile.TemporaryDirectory(prefix="podnet-report-") as scratch:
        staged = Path(scratch) / "results"
        shutil.copytree(results_dir, staged)
        _attach_pictures(staged, document)
        config = Path(scratch) / "allurerc.json"
        config.write_text(json.dumps(_config(name, out.resolve())), encoding="utf-8")
        command = [_node(), str(cli), "generate", "--config", str(config), str(staged)]
        done = subprocess.run(
            command,
            cwd=scratch,
            env={**os.environ, "ALLURE_NO_ANALYTICS": "true"},
            capture_output=True,
            text=True,
            timeout=GENERATE_SECONDS,
            check=False,
        )
    index = out / "index.html"
    if done.returncode != 0 or not index.is_file():
        raise ReportError(
            f"allure generate failed (exit {done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-2000:]}"
        )
    html, cut = _ANALYTICS.subn("", index.read_text(encoding="utf-8"))
    if cut:
        index.write_text(html, encoding="utf-8")
    loads = external_loads(html)
    if loads:
        raise ReportError(f"{index} would load from outside: {', '.join(loads[:5])}")
    return Built(index=index, pictures=drawn, checks=len(document.get("checks", [])))


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ReportError("node is not installed: `apt-get install nodejs npm` (Debian)")
    return node


def _config(name: str, output: Path) -> dict[str, Any]:
    return {
        "name": name,
        "output": str(output),
        # Allure 3 takes categories from its config, not from the results' categories.json.
        "categories": list(allure_labels.CATEGORIES),
        "plugins": {
            "awesome": {
                "options": {
                    "singleFile": True,
                    "reportLanguage": "en",
                    "reportName": name,
                    "groupBy": list(GROUP_BY),
                }
            }
        },
    }


def _attach_pictures(results: Path, document: Mapping[str, Any]) -> None:
    """Add pictures to the staged result files: matrices the run could not draw, and the run's
    convergence timings to each check that measured one."""
    checks = {c["nodeid"]: c for c in document.get("checks", [])}
    convergence = pictures.convergence_png(list(checks.values()))
    for path in sorted(results.glob("*-result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        nodeid = next(
            (
                label.get("value")
                for label in result.get("labels", [])
                if label.get("name") == allure_labels.NODEID_LABEL
            ),
            None,
        )
        check = checks.get(nodeid or "")
        if check is None:
            continue
        attachments = result.setdefault("attachments", [])
        have = {a.get("name") for a in _attachments(result) if a.get("type") == "image/png"}
        added = False
        for data in check.get("matrices", []):
            title = f"matrix {data['what']}"
            if title not in have:
                attachments.append(_png_attachment(results, title, pictures.matrix_png(data)))
                added = True
        timed = any(name.endswith(pictures.TIMING_SUFFIX) for name in check.get("values", {}))
        if convergence is not None and timed:
            attachments.append(_png_attachment(results, "convergence timings", convergence))
            added = True
        if added:
            path.write_text(json.dumps(result), encoding="utf-8")
    if convergence is not None:
        # The run's own picture: a global attachment (the report's "Global Attachments" tab).
        globals_file = results / f"{uuid.uuid4()}-globals.json"
        attachment = _png_attachment(results, "convergence timings of the run", convergence)
        globals_file.write_text(json.dumps({"attachments": [attachment], "errors": []}))


def _attachments(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The attachments of a result and of all its steps (``allure.attach`` in a step puts the
    attachment there)."""
    found = list(node.get("attachments", []))
    for step in node.get("steps", []):
        found += _attachments(step)
    return found


def _png_attachment(results: Path, title: str, png: bytes) -> dict[str, str]:
    source = f"{uuid.uuid4()}-attachment.png"
    (results / source).write_bytes(png)
    return {"name": title, "source": source, "type": "image/png"}
