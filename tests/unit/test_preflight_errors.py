"""Bad input stops the run before the first test with one message that names the fix.

Real runs (a pytest subprocess each) against real files and real loopback endpoints: a closed
port, a listener that never answers, and a fake HTTPS API server with its own CA that records
every request (so "nothing was created" is an observation). No traffic leaves 127.0.0.1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import verdicts
from conftest import Authority, pem_data

if TYPE_CHECKING:
    from conftest import FakeAPIServer, MakeKubeconfig, SilentListener

#: The documented preflight connect bound is 10 s; 5 s more covers starting two interpreters.
#: Errors that need no waiting must come well within it.
RUN_BOUND = 15.0
#: PREFLIGHT_CONNECT, the seconds a server that never answers is waited for (unscaled).
CONNECT_BOUND = 10.0
#: How long after its timeout the client may take to close the connection it gave up on.
CLOSE_SLACK = 3.0
#: Kills a run that hangs; the bounds above are the assertions.
HANG_GUARD = 120.0

NEVER_RUNS = """
from pathlib import Path

def test_never_runs():
    Path("ran").write_text("a test ran after a failed preflight")
"""


def run_podnet(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    pytester.makepyfile(NEVER_RUNS)
    started = time.monotonic()
    # "." explicitly: without a path, --podnet would run the packaged suites instead.
    result = pytester.runpytest_subprocess("--podnet", *args, ".", timeout=HANG_GUARD)
    return result, time.monotonic() - started


def assert_one_usage_error(pytester: pytest.Pytester, result: pytest.RunResult, line: str) -> str:
    """Exit 4, exactly one ERROR line on stderr matching ``line``, no traceback, no test run."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stderr.str()
    errors = [text for text in result.errlines if text.strip()]
    assert len(errors) == 1, errors
    result.stderr.fnmatch_lines([line])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert "test session starts" not in result.stdout.str()
    assert not (pytester.path / "ran").exists()
    return errors[0]


def test_nonexistent_kubeconfig_names_the_option(pytester: pytest.Pytester) -> None:
    missing = pytester.path / "no-such-kubeconfig"

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={missing}")

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {missing} does not exist; fix: point "
        "--podnet-kubeconfig (or ini podnet_kubeconfig) at a kubeconfig file*",
    )
    assert seconds < RUN_BOUND


def test_nonexistent_kubeconfig_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = pytester.path / "gone.yaml"
    monkeypatch.setenv("KUBECONFIG", str(missing))

    result, seconds = run_podnet(pytester)

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {missing} does not exist: pass "
        "--podnet-kubeconfig=PATH or set KUBECONFIG*",
    )
    assert seconds < RUN_BOUND


def test_malformed_kubeconfig_says_which_file(pytester: pytest.Pytester) -> None:
    broken = pytester.path / "broken.kubeconfig"
    broken.write_text("apiVersion: v1\nclusters: [ {name: x\ncontexts: ::\n")

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={broken}")

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {broken} is malformed: *; fix: repair "
        f"kubeconfig {broken} (`kubectl config view` shows what is wrong)*",
    )
    assert seconds < RUN_BOUND


def test_kubeconfig_that_is_not_a_kubeconfig(pytester: pytest.Pytester) -> None:
    other = pytester.path / "notes.txt"
    other.write_text("just some notes\n")

    result, _ = run_podnet(pytester, f"--podnet-kubeconfig={other}")

    assert_one_usage_error(pytester, result, "ERROR: pytest-podnet preflight: *kubeconfig*")


def test_unknown_context_lists_the_known_ones(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url, context="podnet-unit")

    result, seconds = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "--podnet-context=prod-eu"
    )

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: context 'prod-eu' is not in kubeconfig {kubeconfig} "
        "(contexts: podnet-unit); fix: pass --podnet-context=NAME with one of those contexts*",
    )
    assert seconds < RUN_BOUND


def test_refused_connection_is_unreachable_at_once(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    message = assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: the API server of kubeconfig {kubeconfig} refused the "
        f"connection (GET {closed_port_url}/version: connection refused); fix: check that the API "
        "server runs and that the kubeconfig's server address is right*",
    )
    # Refused is an answer: no bound was waited for, so none is named.
    assert "within" not in message
    assert "timeout-scale" not in message
    assert seconds < RUN_BOUND


def test_server_that_never_answers_gives_up_within_the_connect_bound(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, silent_listener: SilentListener
) -> None:
    kubeconfig = make_kubeconfig(silent_listener.url)

    result, _ = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    assert_one_usage_error(
        pytester,
        result,
        "ERROR: pytest-podnet preflight: cannot reach the API server of kubeconfig * "
        "within 10s (*); fix: *raise --podnet-timeout-scale for a slow link",
    )
    assert silent_listener.contacted()
    # Timed at the server, from the client's connect to its giving up: the bound itself, not
    # the seconds the client's interpreter took to start (many, under CPU load).
    held = silent_listener.held_for()
    assert CONNECT_BOUND * 0.9 <= held < CONNECT_BOUND + CLOSE_SLACK, held


def test_timeout_scale_scales_the_connect_bound(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, silent_listener: SilentListener
) -> None:
    kubeconfig = make_kubeconfig(silent_listener.url)

    result, _ = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "--podnet-timeout-scale=0.2"
    )

    assert_one_usage_error(
        pytester,
        result,
        "ERROR: pytest-podnet preflight: cannot reach the API server of kubeconfig * within 2s*",
    )
    held = silent_listener.held_for()
    assert CONNECT_BOUND * 0.2 * 0.9 <= held < CONNECT_BOUND * 0.2 + CLOSE_SLACK, held


def test_preflight_runs_once_on_the_controller_under_xdist(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)

    result, seconds = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "-p", "xdist", "-n", "2"
    )

    assert_one_usage_error(
        pytester, result, "ERROR: pytest-podnet preflight: the API server * refused the connection*"
    )
    assert "created: 2/2 workers" not in result.stdout.str()
    assert seconds < RUN_BOUND


def test_collect_only_does_not_connect(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, silent_listener: SilentListener
) -> None:
    kubeconfig = make_kubeconfig(silent_listener.url)

    result, _ = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}", "--collect-only")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["podnet: cluster not contacted*", "*test_never_runs*"])
    assert not silent_listener.contacted()
    assert not Path(pytester.path / "ran").exists()


def test_report_file_records_the_preflight_error(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)

    result, _ = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "--podnet-report=out/verdict.json"
    )

    message = assert_one_usage_error(
        pytester, result, "ERROR: pytest-podnet preflight: the API server * refused*"
    )
    document = verdicts.load(pytester.path / "out" / "verdict.json")
    assert document["run"]["exit_status"] == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {document['run']['preflight_error']}" == message
    assert document["checks"] == []
    assert [g["verdict"] for g in document["guarantees"]] == ["NOT VERIFIED"] * 3


# ---------------------------------------------------- TLS, client credentials, exec plugins


def test_a_ca_that_did_not_sign_the_server_certificate_names_certificate_authority(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, fake_apiserver: FakeAPIServer
) -> None:
    other_ca = Authority("some-other-ca")
    kubeconfig = make_kubeconfig(
        fake_apiserver.url, cluster={"certificate-authority-data": pem_data(other_ca.pem)}
    )

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    message = assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: the API server of kubeconfig {kubeconfig}: the server's "
        "certificate is not signed by the certificate-authority of the kubeconfig (*certificate "
        "verify failed*); fix: set certificate-authority(-data) of the cluster in the kubeconfig "
        "to the CA that signed the API server's certificate*",
    )
    assert "within" not in message
    assert "timeout-scale" not in message
    assert fake_apiserver.tls_failures >= 1
    assert fake_apiserver.requests == []
    assert seconds < RUN_BOUND


def test_a_certificate_for_another_name_says_so(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, fake_apiserver: FakeAPIServer
) -> None:
    # Signed by the right CA, issued for 127.0.0.1 only; the kubeconfig says localhost.
    kubeconfig = make_kubeconfig(
        f"https://localhost:{fake_apiserver.port}",
        cluster={"certificate-authority-data": pem_data(fake_apiserver.authority.pem)},
    )

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    assert_one_usage_error(
        pytester,
        result,
        "ERROR: pytest-podnet preflight: *: the server's certificate is signed by the "
        "certificate-authority of the kubeconfig but not issued for the server's address (*); "
        "fix: point server at a name or IP the certificate lists, or set tls-server-name to one",
    )
    assert fake_apiserver.requests == []
    assert seconds < RUN_BOUND


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ("certificate", "client-certificate"),
        ("key", "client-key"),
        ("pair", "client-certificate and client-key"),
    ],
)
def test_an_unusable_client_certificate_or_key_names_the_field(
    pytester: pytest.Pytester,
    make_kubeconfig: MakeKubeconfig,
    fake_apiserver: FakeAPIServer,
    tmp_path: Path,
    broken: str,
    field: str,
) -> None:
    cert, key = fake_apiserver.authority.issue("alice", server=False).write(tmp_path, "alice")
    if broken == "certificate":
        cert.write_text("this is not a certificate\n")
    elif broken == "key":
        key.write_text("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    else:  # a valid key that belongs to another certificate
        _, key = fake_apiserver.authority.issue("bob", server=False).write(tmp_path, "bob")
    kubeconfig = make_kubeconfig(
        fake_apiserver.url,
        cluster={"certificate-authority-data": pem_data(fake_apiserver.authority.pem)},
        user={"client-certificate": str(cert), "client-key": str(key)},
    )

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    message = assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {kubeconfig}, context 'podnet-unit': user "
        f"'unit'*{field}*; fix: set client-certificate(-data) and client-key(-data) of that user*",
    )
    assert "within" not in message
    assert "expired" not in message
    # Caught before any connection: the server never saw a request or a handshake.
    assert fake_apiserver.requests == []
    assert fake_apiserver.tls_failures == 0
    assert seconds < RUN_BOUND


def test_a_missing_exec_credential_plugin_is_named_with_its_install_hint(
    pytester: pytest.Pytester,
    make_kubeconfig: MakeKubeconfig,
    fake_apiserver: FakeAPIServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path / 'empty-bin'}:{Path(sys.executable).parent}")
    kubeconfig = make_kubeconfig(
        fake_apiserver.url,
        cluster={"certificate-authority-data": pem_data(fake_apiserver.authority.pem)},
        user={
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": "gke-gcloud-auth-plugin",
                "installHint": "gcloud components install gke-gcloud-auth-plugin",
                "provideClusterInfo": True,
            }
        },
    )

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    message = assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {kubeconfig}, context 'podnet-unit': user "
        "'unit' gets its credentials from the exec plugin 'gke-gcloud-auth-plugin', which is not "
        "on PATH; fix: install gke-gcloud-auth-plugin (gcloud components install "
        "gke-gcloud-auth-plugin) on PATH (kubectl needs it too*",
    )
    assert "expired" not in message
    assert fake_apiserver.requests == []
    assert seconds < RUN_BOUND


def test_a_failing_exec_credential_plugin_says_what_it_printed(
    pytester: pytest.Pytester,
    make_kubeconfig: MakeKubeconfig,
    fake_apiserver: FakeAPIServer,
    tmp_path: Path,
) -> None:
    plugin = tmp_path / "bin" / "login-plugin"
    plugin.parent.mkdir()
    plugin.write_text("#!/bin/sh\necho 'token expired, run: corp-login' >&2\nexit 3\n")
    plugin.chmod(0o755)
    kubeconfig = make_kubeconfig(
        fake_apiserver.url,
        cluster={"certificate-authority-data": pem_data(fake_apiserver.authority.pem)},
        user={"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}},
    )

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: *the exec credential plugin '{plugin}' of user 'unit' "
        "failed: exec: process returned 3. token expired, run: corp-login; fix: run *",
    )
    assert fake_apiserver.requests == []
    assert seconds < RUN_BOUND


# ------------------------------------------------------------ runs that go on past the preflight

PASSES = """
def test_passes():
    pass
"""


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["serial", "xdist"])
def test_insecure_skip_tls_verify_warns_once_and_the_run_goes_on(
    pytester: pytest.Pytester,
    make_kubeconfig: MakeKubeconfig,
    fake_apiserver: FakeAPIServer,
    monkeypatch: pytest.MonkeyPatch,
    workers: list[str],
) -> None:
    kubeconfig = make_kubeconfig(fake_apiserver.url, cluster={"insecure-skip-tls-verify": True})
    pytester.makepyfile(PASSES)
    # This test may itself run in an xdist worker; the run under test is a controller.
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)

    # -W error as a strict project's pytest.ini sets it: a warning per request would end the run.
    result = pytester.runpytest_subprocess(
        "--podnet",
        f"--podnet-kubeconfig={kubeconfig}",
        "-W",
        "error",
        *workers,
        ".",
        timeout=HANG_GUARD,
    )

    output = result.stdout.str() + "\n" + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "InsecureRequestWarning" not in output
    warned = [line for line in output.splitlines() if "insecure-skip-tls-verify" in line]
    assert warned == [
        f"pytest-podnet preflight: warning: context podnet-unit ({fake_apiserver.url}) has "
        "insecure-skip-tls-verify: true, the API server's certificate is not checked; fix: set "
        "certificate-authority(-data) in the kubeconfig instead"
    ]
    result.assert_outcomes(passed=1)
    assert len(fake_apiserver.requests) > 1  # the preflight ran its reads over the quiet pool
    assert fake_apiserver.writes() == []


def test_kubeconfig_chain_uses_the_first_files_context_as_kubectl_does(
    pytester: pytest.Pytester,
    make_kubeconfig: MakeKubeconfig,
    fake_apiserver: FakeAPIServer,
    closed_port_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca = {"certificate-authority-data": pem_data(fake_apiserver.authority.pem)}
    first = make_kubeconfig(fake_apiserver.url, context="meant", name="a.yaml", cluster=ca)
    # The second file's context points elsewhere; the Python client alone would pick it.
    second = make_kubeconfig(closed_port_url, context="not-meant", name="b.yaml")
    monkeypatch.setenv("KUBECONFIG", f"{first}:{second}")
    pytester.makepyfile(PASSES)

    result = pytester.runpytest_subprocess("--podnet", ".", timeout=HANG_GUARD)

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*meant*{fake_apiserver.url}*"])
    assert "not-meant" not in result.stdout.str()
    assert ("GET", "/version/") in fake_apiserver.requests or (
        "GET",
        "/version",
    ) in fake_apiserver.requests


def test_missing_permissions_are_listed_one_resource_per_line(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, fake_apiserver: FakeAPIServer
) -> None:
    fake_apiserver.denied = {
        ("apps", "deployments", "", "create"),
        ("apps", "deployments", "", "delete"),
        ("", "pods", "exec", "create"),
        ("", "pods", "eviction", "create"),
        ("", "namespaces", "", "create"),
    }
    ca = {"certificate-authority-data": pem_data(fake_apiserver.authority.pem)}
    kubeconfig = make_kubeconfig(fake_apiserver.url, cluster=ca)

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.strip()]
    assert errors == [
        f"ERROR: pytest-podnet preflight: the identity of context podnet-unit "
        f"({fake_apiserver.url}) lacks 5 permission(s) the checks need, cluster-wide, on 4 "
        "resource(s):",
        '  - {apiGroups: [""], resources: ["namespaces"], verbs: ["create"]}',
        '  - {apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}',
        '  - {apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"]}',
        '  - {apiGroups: ["apps"], resources: ["deployments"], verbs: ["create", "delete"]}',
        "fix: bind a ClusterRole with these rules to it (`podnet rbac --user NAME | kubectl "
        "apply -f -` applies the whole least-privilege set)",
    ]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / "ran").exists()
    assert fake_apiserver.writes() == []
    assert seconds < RUN_BOUND
