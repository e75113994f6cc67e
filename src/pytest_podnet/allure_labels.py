"""Allure labels and environment, so an Allure report reads by guarantee.

Every guarantee check gets, as allure-pytest markers (read by allure-pytest at teardown, on the
worker that ran the check, so they travel through xdist like any marker):

- ``epic``: the guarantee (``G2 flat network, no NAT``), ``feature``: the suite module,
  ``story``: the check (the test function, without its parameters), ``severity``;
- ``upstream``: each upstream Kubernetes e2e test the check maps to, as its docstring names it
  (the ``Upstream:`` paragraph of the check, else of its module); ``none`` when the docstring says
  upstream has no such test;
- ``podnet_nodeid``: the pytest node id, which ``podnet report`` uses to find a check's result
  file when it attaches the check's pictures.

``environment.properties`` in the results directory holds what the preflight learnt of the
cluster (Allure shows it as the report's environment). Pure apart from writing that file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pytest

from pytest_podnet import __version__, report

#: allure-pytest's marker names (``allure_pytest.utils.ALLURE_LABEL_MARK``).
LABEL_MARK: Final = "allure_label"
#: Label names of our own (Allure shows any label; these two are not Allure's built-ins).
UPSTREAM_LABEL: Final = "upstream"
NODEID_LABEL: Final = "podnet_nodeid"
#: Severity of a check: the representative (quick) check of a guarantee blocks, every other
#: required check is critical, an opt-in check (needs privileges) is normal.
BLOCKER: Final = "blocker"
CRITICAL: Final = "critical"
NORMAL: Final = "normal"
ENVIRONMENT_FILE: Final = "environment.properties"

_UPSTREAM_PARAGRAPH = re.compile(r"^\s*Upstream\b(.*?)(?:\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)
_QUOTED = re.compile(r'"([^"]+)"')


def epic(gid: str) -> str:
    """``G2 flat network, no NAT``: the id and what it promises."""
    title = report.GUARANTEES.get(gid)
    return f"{gid} {title}" if title else gid


def severity(item: pytest.Item) -> str:
    if item.get_closest_marker("podnet_privileged"):
        return NORMAL
    if item.get_closest_marker("podnet_quick"):
        return BLOCKER
    return CRITICAL


def upstream_tests(*docstrings: str | None) -> list[str]:
    """The upstream e2e test names quoted in the first ``Upstream...`` paragraph found in
    ``docstrings`` (checked in order: the check's, then its module's).

    ``["none"]`` when that paragraph quotes no name (``Upstream e2e has no test that ...``).
    Joined lines are unwrapped: a docstring breaks a long test name over two lines.
    """
    for doc in docstrings:
        found = _UPSTREAM_PARAGRAPH.search(doc or "")
        if found is None:
            continue
        names = [" ".join(name.split()) for name in _QUOTED.findall(found.group(1))]
        return names or ["none"]
    return []


def markers_for(item: pytest.Item, gid: str) -> list[pytest.MarkDecorator]:
    """The allure-pytest label markers of one guarantee check."""
    function = getattr(item, "function", None)
    module = getattr(item, "module", None)
    story = getattr(item, "originalname", None) or item.name
    feature = getattr(module, "__name__", "").rsplit(".", 1)[-1] or item.nodeid.split("::")[0]
    labels: list[tuple[str, str]] = [
        ("epic", epic(gid)),
        ("feature", feature),
        ("story", story),
        ("severity", severity(item)),
        (NODEID_LABEL, item.nodeid),
    ]
    doc_of_check = getattr(function, "__doc__", None)
    labels += [
        (UPSTREAM_LABEL, name)
        for name in upstream_tests(doc_of_check, getattr(module, "__doc__", None))
    ]
    mark = getattr(pytest.mark, LABEL_MARK)
    return [mark(value, label_type=name) for name, value in labels]


def label(item: pytest.Item, gid: str) -> None:
    """Add the labels to ``item`` when allure-pytest is loaded (else the markers mean nothing
    and would be unknown markers)."""
    if not item.config.pluginmanager.hasplugin("allure_pytest"):
        return
    for marker in markers_for(item, gid):
        item.add_marker(marker)


def environment(
    facts: Mapping[str, Any], *, images: Sequence[str], run_id: str, cluster: str | None
) -> dict[str, str]:
    """The cluster facts of the preflight as Allure environment entries (name -> text)."""
    nodes = facts.get("nodes", [])
    env = {
        "podnet.version": __version__,
        "podnet.run_id": run_id,
        "cluster": cluster or "current kubeconfig context",
        "kubernetes.server_version": str(facts.get("server_version") or "?"),
        "kubernetes.context": str(facts.get("context") or "?"),
        "kubernetes.server_url": str(facts.get("server_url") or "?"),
        "nodes.tested": str(len(nodes)),
        "ip_families": "/".join(facts.get("ip_families", [])) or "?",
        "dataplane": str(facts.get("dataplane") or "?"),
        "node_selector": str(facts.get("node_selector") or "-"),
        "images": " ".join(images),
    }
    for node in nodes:
        cidrs = ",".join(node.get("pod_cidrs", [])) or "?"
        env[f"node.{node['name']}"] = f"{node.get('internal_ip') or '?'}, pod CIDRs {cidrs}"
    for node in facts.get("excluded_nodes", []):
        env[f"node.{node['name']}"] = f"left out: {node.get('why', '?')}"
    return env


def write_environment(results_dir: str | Path, env: Mapping[str, str]) -> Path:
    """Write ``environment.properties`` (Java properties, the format Allure reads)."""
    target = Path(results_dir) / ENVIRONMENT_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "".join(f"{_escape(key, True)}={_escape(value, False)}\n" for key, value in env.items()),
        encoding="utf-8",
    )
    return target


#: Allure's categories for the two ways a check does not pass, matched on the message the plugin
#: gives each (``plugin._judge``: "G2 (title) not verified: ..." / "G2 (title) broken: ..."), with
#: an optional exception-name prefix. Without them Allure files a NOT VERIFIED check under its
#: default "Test defects"/"broken" bucket, as if the suite were at fault. Allure 3 searches the
#: message; Allure 2 matches it whole, hence the trailing ``[\s\S]*``.
CATEGORIES: Final = (
    {
        "name": "NOT VERIFIED: the cluster could not be observed (cause and fix in the message)",
        "messageRegex": r"^([\w.]+: )?G\d+ \([^)]*\) not verified[\s\S]*",
        "matchedStatuses": ["failed", "broken"],
    },
    {
        "name": "FAIL: a guarantee is broken (the evidence in the message)",
        "messageRegex": r"^([\w.]+: )?G\d+ \([^)]*\) broken: [\s\S]*",
        "matchedStatuses": ["failed", "broken"],
    },
)
CATEGORIES_FILE: Final = "categories.json"


def write_categories(results_dir: str | Path) -> Path:
    """Write ``categories.json`` (``CATEGORIES``) beside the results."""
    target = Path(results_dir) / CATEGORIES_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(list(CATEGORIES), indent=2), encoding="utf-8")
    return target


def _escape(text: str, key: bool) -> str:
    """Java properties escaping: backslash, line breaks, and in keys ``=``, ``:`` and space."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        out = out.replace("=", "\\=").replace(":", "\\:").replace(" ", "\\ ")
    return out
