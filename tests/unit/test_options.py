"""Options, ini twins, markers and the usage errors of bad values (no cluster involved)."""

from __future__ import annotations

import pytest
from fake_preflight import FAKE_PREFLIGHT

from pytest_podnet import plugin
from pytest_podnet.localcluster import paths
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE
from pytest_podnet.settings import OPTIONS, Settings
from pytest_podnet.stash import SETTINGS_KEY

GROUP_TITLE = "pytest-podnet (Pod-networking guarantees on a cluster):"


def settings_of(pytester: pytest.Pytester, *args: str) -> Settings:
    config = pytester.parseconfigure(*args)
    return config.stash[SETTINGS_KEY]


def test_help_shows_every_option_in_one_podnet_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    options_part = result.stdout.str().split("[pytest] configuration options")[0]
    assert options_part.count(GROUP_TITLE) == 1
    group = options_part.split(GROUP_TITLE)[1].split("\n\n")[0]
    for option in OPTIONS:
        assert f"  {option.flag}" in group, f"{option.flag} is not in the podnet group"
        outside = options_part.replace(group, "")
        assert f"  {option.flag} " not in outside
        assert f"  {option.flag}=" not in outside


def test_every_option_has_an_ini_twin(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")

    ini_part = result.stdout.str().split("[pytest] configuration options")[1]
    for option in OPTIONS:
        assert option.ini == option.flag.removeprefix("--").replace("-", "_")
        assert f"  {option.ini} (" in ini_part, f"{option.flag} has no ini twin {option.ini}"


def test_markers_are_registered_with_help(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")

    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.podnet_guarantee(id): the guarantee (G1, G2 or G3)*",
            "@pytest.mark.podnet_quick: *",
            "@pytest.mark.podnet_cross_node: the check needs two schedulable nodes*",
            "@pytest.mark.podnet_slow(why): the check spends seconds mostly waiting*",
            "@pytest.mark.podnet_privileged: *--podnet-privileged*",
        ]
    )


def test_settings_default_to_the_upstream_images_and_strict_behaviour(
    pytester: pytest.Pytester,
) -> None:
    settings = settings_of(pytester)

    assert settings.enabled is False
    assert settings.images == (AGNHOST_IMAGE,)
    assert (settings.cluster, settings.keep, settings.ip_reuse) == ("external", "never", "strict")
    assert (settings.kubeconfig, settings.context, settings.report_path) == (None, None, None)
    assert settings.timeout_scale == 1.0
    assert settings.local_nodes == 2
    assert not (settings.privileged)
    assert not (settings.quick)
    assert not (settings.list_images)


def test_settings_read_every_ini_twin(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        podnet = true
        podnet_kubeconfig = conf/kc.yaml
        podnet_context = ci
        podnet_image = mirror.example/agnhost:2.63.0
        podnet_timeout_scale = 2.5
        podnet_keep = on-failure
        podnet_ip_reuse = allow
        podnet_report = out/verdict.json
        podnet_privileged = true
        podnet_local_nodes = 3
        podnet_quick = true
        """
    )

    settings = settings_of(pytester)

    assert settings.enabled
    assert settings.privileged
    assert settings.quick
    assert settings.kubeconfig == str(pytester.path / "conf" / "kc.yaml")
    assert settings.context == "ci"
    assert settings.images == ("mirror.example/agnhost:2.63.0",)
    assert settings.timeout_scale == 2.5
    assert (settings.keep, settings.ip_reuse) == ("on-failure", "allow")
    assert settings.report_path == str(pytester.path / "out" / "verdict.json")
    assert settings.local_nodes == 3


def test_command_line_wins_over_the_ini_twin(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npodnet = true\npodnet_timeout_scale = 2.5\npodnet_keep = always\n")

    settings = settings_of(pytester, "--podnet", "--podnet-timeout-scale=4", "--podnet-keep=never")

    assert (settings.timeout_scale, settings.keep) == (4.0, "never")


def test_local_cluster_uses_the_admin_kubeconfig_of_the_embedded_cluster(
    pytester: pytest.Pytester,
) -> None:
    settings = settings_of(pytester, "--podnet", "--podnet-cluster=local", "--podnet-local-nodes=1")

    assert settings.kubeconfig == str(paths.admin_kubeconfig())
    assert settings.local_nodes == 1


def test_run_id_is_a_sortable_label_value(pytester: pytest.Pytester) -> None:
    run_id = settings_of(pytester).run_id

    stamp, _, suffix = run_id.partition("-")
    assert len(stamp) == 14
    assert stamp.isdigit()
    assert len(suffix) == 6
    assert len(run_id) <= 63


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--podnet-timeout-scale=0"],
            "",
            "ERROR: --podnet-timeout-scale='0' is not valid: give a number greater than 0*",
        ),
        (
            ["--podnet-timeout-scale=fast"],
            "",
            "ERROR: --podnet-timeout-scale='fast' is not valid*",
        ),
        (
            [],
            "podnet_keep = sometimes",
            "ERROR: ini podnet_keep='sometimes' is not valid: use one of never, on-failure, always",
        ),
        (
            [],
            "podnet_cluster = kind",
            "ERROR: ini podnet_cluster='kind' is not valid: use one of external, local",
        ),
        (
            ["--podnet-local-nodes=0"],
            "",
            "ERROR: --podnet-local-nodes='0' is not valid: give a whole number >= 1",
        ),
        (
            ["--podnet-cluster=local", "--podnet-context=prod"],
            "",
            "ERROR: --podnet-cluster=local brings its own kubeconfig: drop --podnet-kubeconfig*",
        ),
        (["--podnet-context="], "", "ERROR: --podnet-context is empty*"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_fix(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")

    result = pytester.runpytest("--podnet", *args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_bad_choice_on_the_command_line_is_rejected_by_argparse(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--podnet-ip-reuse=sometimes")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--podnet-ip-reuse: invalid choice: 'sometimes'*"])


def test_list_images_prints_the_images_and_exits_zero(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")

    result = pytester.runpytest_subprocess("--podnet", "--podnet-list-images")

    assert result.ret == 0
    assert result.outlines == [AGNHOST_IMAGE]


def test_list_images_follows_the_mirror_options(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--podnet",
        "--podnet-list-images",
        "--podnet-image=mirror.local/agnhost:2.63.0",
    )

    assert result.ret == 0
    assert result.outlines == ["mirror.local/agnhost:2.63.0"]


def test_quick_selects_only_the_quick_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.podnet_quick
        def test_representative():
            pass

        def test_thorough():
            pass
        """
    )

    pytester.makeconftest(FAKE_PREFLIGHT)
    result = pytester.runpytest("--podnet", "--podnet-quick", "-n", "0", "-v", ".")

    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*test_representative PASSED*"])


def test_quick_runs_its_checks_side_by_side_unless_n_is_given(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.podnet_quick
        def test_representative():
            pass
        """
    )
    pytester.makeconftest(FAKE_PREFLIGHT)

    side_by_side = pytester.runpytest_subprocess("--podnet", "--podnet-quick", ".")
    serial = pytester.runpytest_subprocess("--podnet", "--podnet-quick", "-n", "0", ".")
    two = pytester.runpytest_subprocess("--podnet", "--podnet-quick", "-n", "2", ".")

    side_by_side.stdout.fnmatch_lines([f"created: {plugin.QUICK_WORKERS}/*workers*"])
    assert "workers" not in serial.stdout.str()
    two.stdout.fnmatch_lines(["created: 2/2 workers*"])
    for result in (side_by_side, serial, two):
        result.assert_outcomes(passed=1)


def test_slow_checks_run_first_in_their_collection_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_a():
            pass

        @pytest.mark.podnet_slow("watches flows for seconds")
        def test_b():
            pass

        def test_c():
            pass

        @pytest.mark.podnet_slow("waits out a timeout")
        def test_d():
            pass
        """
    )

    pytester.makeconftest(FAKE_PREFLIGHT)
    result = pytester.runpytest("--podnet", "--collect-only", "-q", ".")

    assert [line.rsplit("::", 1)[-1] for line in result.outlines if "::" in line] == [
        "test_b",
        "test_d",
        "test_a",
        "test_c",
    ]


def test_guarantee_marker_without_an_id_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.podnet_guarantee
        def test_check():
            pass
        """
    )

    result = pytester.runpytest()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*write podnet_guarantee with one id, e.g.*"])


def test_dash_m_selects_the_checks_of_one_guarantee(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.podnet_guarantee("G2")
        def test_flat():
            pass

        @pytest.mark.podnet_guarantee("G3")
        def test_stable():
            pass
        """
    )

    result = pytester.runpytest("-m", "podnet_g2", "-v", "--strict-markers")

    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["*test_flat PASSED*"])


@pytest.mark.parametrize(
    ("args", "ini", "named"),
    [
        (["--podnet-kubeconfig=k.yaml", "--podnet-report=r.json"], "", "--podnet-kubeconfig"),
        (["--podnet-quick"], "", "--podnet-quick"),
        ([], "podnet_timeout_scale = 2", "ini podnet_timeout_scale"),
    ],
)
def test_podnet_options_without_podnet_are_a_usage_error_naming_the_flag(
    pytester: pytest.Pytester, args: list[str], ini: str, named: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError\n")

    result = pytester.runpytest(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: *{named}* given without --podnet: add --podnet*"])
    assert not (pytester.path / "r.json").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("G1,G9x", "*--podnet-require: 'G9x' given: write guarantee ids*"),
        ("", "*--podnet-require: nothing given: write guarantee ids*"),
    ],
)
def test_bad_require_is_a_usage_error(pytester: pytest.Pytester, value: str, message: str) -> None:
    result = pytester.runpytest("--podnet", f"--podnet-require={value}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_require_allow_skip_and_namespace_labels_are_read(pytester: pytest.Pytester) -> None:
    settings = settings_of(
        pytester,
        "--podnet",
        "--podnet-require=G2",
        "--podnet-allow-skip=privileged,cross-node",
        "--podnet-namespace-labels=team=netops,policy.example.com/exempt=true",
        "--podnet-node-selector=pool=blue",
    )

    assert settings.require == ("G2",)
    assert settings.allow_skip == {"cross-node", "privileged"}
    assert settings.namespace_labels == {"team": "netops", "policy.example.com/exempt": "true"}
    assert settings.node_selector == "pool=blue"


def test_unknown_allow_skip_kind_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--podnet", "--podnet-allow-skip=flaky")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'flaky' not valid: use a comma-separated list of cross-node*"])


@pytest.mark.parametrize("where", ["directory", "under-a-file"])
def test_report_path_is_checked_when_the_run_starts(pytester: pytest.Pytester, where: str) -> None:
    if where == "directory":
        path = pytester.mkdir("out")
        message = f"*--podnet-report={path} is a directory: give a file path*"
    else:
        (pytester.path / "notes.txt").write_text("a file, not a directory")
        path = pytester.path / "notes.txt" / "verdict.json"
        message = "*cannot be written (*notes.txt is not a writable directory)*"

    result = pytester.runpytest("--podnet", f"--podnet-report={path}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert not list(pytester.path.rglob(".*.tmp"))
