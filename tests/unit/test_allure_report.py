"""Allure labels, environment file, pictures and the report builder's pure parts (offline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_report import ledger_of, phase

from pytest_podnet import allure_labels, htmlreport, matrix, pictures, report


def test_upstream_names_come_from_the_checks_paragraph_first_then_the_modules() -> None:
    check = """Pod -> Pod.

    Upstream: "[sig-network] NoSNAT Should be able to send traffic
    between Pods without SNAT" (TCP) and "[sig-network] Networking Granular Checks: Pods".
    """
    module = "G2.\n\nUpstream e2e has no test that compares Pod IPs across a replacement.\n"

    assert allure_labels.upstream_tests(check, module) == [
        "[sig-network] NoSNAT Should be able to send traffic between Pods without SNAT",
        "[sig-network] Networking Granular Checks: Pods",
    ]
    assert allure_labels.upstream_tests("No upstream paragraph.", module) == ["none"]
    assert allure_labels.upstream_tests(None, "nothing") == []


def test_environment_lists_version_nodes_and_families_as_java_properties(tmp_path: Path) -> None:
    facts = {
        "server_version": "v1.36.3",
        "context": "podnet-local",
        "nodes": [{"name": "n1", "internal_ip": "172.30.0.11", "pod_cidrs": ["10.244.0.0/24"]}],
        "ip_families": ["IPv4"],
        "excluded_nodes": [{"name": "n2", "why": "cordoned"}],
    }
    env = allure_labels.environment(facts, images=["img:1"], run_id="r1", cluster="local")

    path = allure_labels.write_environment(tmp_path, env)

    lines = path.read_text().splitlines()
    assert "kubernetes.server_version=v1.36.3" in lines
    assert "node.n1=172.30.0.11, pod CIDRs 10.244.0.0/24" in lines
    assert "node.n2=left out: cordoned" in lines
    assert "nodes.tested=1" in lines
    assert allure_labels._escape("a b:c=d", True) == "a\\ b\\:c\\=d"


def test_matrices_reach_the_json_once_per_matrix() -> None:
    grid = matrix.PairMatrix("pod -> pod, cross-node, http /clientip, IPv4", ["n1", "n2"])
    grid.add("n1", "n2", matrix.OK)
    grid.add("n2", "n1", matrix.NATED, "saw 172.30.0.12")
    data = grid.to_json()
    prop = (report.MATRIX_PROPERTY, data)
    call = phase("a::m", "call", "passed", guarantee="G2")
    call.user_properties.append(prop)
    teardown = phase("a::m", "teardown", "passed", guarantee="G2")
    teardown.user_properties.append(prop)

    (result,) = ledger_of(call, teardown).results

    assert data["marks"] == [["-", "."], ["N", "-"]]
    assert result.to_json()["matrices"] == [data]


def test_pictures_are_pngs_beside_the_verdict(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    grid = {"what": "pod -> pod", "nodes": ["n1", "n2"], "marks": [["-", "X"], ["N", "-"]]}
    document = {
        "checks": [
            {"nodeid": "s.py::test_a[x]", "values": {"ready_to_listed_s": 1.2}, "matrices": [grid]},
            {"nodeid": "s.py::test_b", "values": {"ready_to_listed_s": 0.4, "n": 3}},
        ]
    }

    written = pictures.write_pictures(document, tmp_path / "v.json.d")

    assert [p.name for p in written] == ["matrix-test-a-x-pod-pod.png", "convergence.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)
    assert pictures.timings(document["checks"]) == {
        "ready_to_listed_s": [("test_a[x]", 1.2), ("test_b", 0.4)]
    }


def test_external_loads_finds_fetches_not_namespaces() -> None:
    html = (
        '<svg xmlns="http://www.w3.org/2000/svg"></svg><a href="#x">'
        '<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>'
        "<style>@import '//cdn.example/x.css'; b{background:url(data:image/png;base64,AA)}</style>"
    )

    assert htmlreport.external_loads(html) == [
        "//cdn.example/x.css",
        "https://www.googletagmanager.com/gtag/js?id=G-1",
    ]


def test_the_analytics_block_of_allure_is_cut_out() -> None:
    html = (
        "<body><div id=app></div>\n"
        '    <script async src="https://www.googletagmanager.com/gtag/js?id=G-LNDJ3J7WT0">'
        "</script>\n    <script>\n        window.dataLayer = window.dataLayer || [];\n"
        "        gtag('config', 'G-LNDJ3J7WT0', {});\n    </script>\n<script>data()</script>"
    )

    cut = htmlreport._ANALYTICS.sub("", html)

    assert htmlreport.external_loads(cut) == []
    assert "gtag" not in cut
    assert "<script>data()</script>" in cut


def test_the_shipped_schema_is_the_verdicts_id() -> None:
    assert htmlreport.schema()["$id"].endswith(report.JSON_SCHEMA)
    assert htmlreport.schema()["properties"]["schema"]["const"] == report.JSON_SCHEMA


def test_categories_name_not_verified_and_fail_by_the_plugins_own_messages(
    tmp_path: Path,
) -> None:
    path = allure_labels.write_categories(tmp_path)
    categories = {c["name"].split(":")[0]: c for c in json.loads(path.read_text())}
    assert set(categories) == {"NOT VERIFIED", "FAIL"}
    messages = {
        # What plugin._judge makes of a check that could not observe, and of one that saw a break
        # (allure-pytest may prefix the exception's name).
        "NOT VERIFIED": [
            "Failed: G2 (flat network, no NAT) not verified: timed out after 120s [pod-startup]",
            "G1 (Pod IPs are ephemeral) not verified (in setup): 403 Forbidden\nfix: ...",
        ],
        "FAIL": ["AssertionError: G2 (flat network, no NAT) broken: 1 of 2 pairs NATed\n..."],
    }
    for name, category in categories.items():
        assert category["matchedStatuses"] == ["failed", "broken"]
        pattern = re.compile(category["messageRegex"])
        for message in messages[name]:
            assert pattern.fullmatch(message), (name, message)  # Allure 2: whole message
        other = messages["FAIL" if name == "NOT VERIFIED" else "NOT VERIFIED"]
        assert not any(pattern.search(m) for m in other), name
    # Allure 3 (podnet report) reads them from its config, Allure 2 from categories.json.
    assert htmlreport._config("r", tmp_path)["categories"] == json.loads(path.read_text())
