"""pytest hooks of pytest-podnet (entry point ``podnet``); the modules they call do the work.

Inert unless asked: without ``--podnet`` (or ini ``podnet = true``) no hook connects to anything or
changes another project's run; tests that use the podnet fixtures are skipped with the reason.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_podnet import report
from pytest_podnet.settings import OPTIONS, WORKER_KUBECONFIG, WORKER_RUN_ID, Settings
from pytest_podnet.stash import CLUSTER_KEY, NAMESPACES_KEY, PHASE_REPORTS_KEY, SETTINGS_KEY

if TYPE_CHECKING:
    from xdist.workermanage import WorkerController

MARKERS = (
    "podnet_guarantee(id): the guarantee (G1, G2 or G3) a pytest-podnet check proves; "
    "groups the check in the verdict table and the JSON report",
    "podnet_quick: the representative check of a guarantee, selected by --podnet-quick",
    "podnet_g1: added to every check of guarantee G1 (Pod IPs are ephemeral): -m podnet_g1",
    "podnet_g2: added to every check of guarantee G2 (flat network, no NAT): -m podnet_g2",
    "podnet_g3: added to every check of guarantee G3 (Services are the stable address): "
    "-m podnet_g3",
    "podnet_cross_node: the check needs two schedulable nodes; skipped on a one-node cluster",
    "podnet_privileged: the check needs hostNetwork or privileged Pods; skipped unless "
    "--podnet-privileged",
)
#: The module defining the fixtures, registered as a plugin when --podnet is given.
FIXTURES_PLUGIN = "pytest_podnet.fixtures"
#: Fixtures of FIXTURES_PLUGIN a test may request directly; skipped with a reason without --podnet.
FIXTURE_NAMES = frozenset({"podnet", "podnet_cluster"})
#: ``config.workerinput`` key carrying the controller's preflight facts to xdist workers.
WORKER_FACTS = "podnet_facts"

_KUBECONFIG_KEY = pytest.StashKey[str | None]()
_FACTS_KEY = pytest.StashKey[dict[str, Any]]()
_STARTED_LOCAL_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("podnet", "pytest-podnet (Pod-networking guarantees on a cluster)")
    for option in OPTIONS:
        if option.is_flag:
            group.addoption(
                option.flag, action="store_true", default=None, dest=option.dest, help=option.help
            )
            parser.addini(
                option.ini, f"default of {option.flag}: {option.help}", type="bool", default=False
            )
        else:
            group.addoption(
                option.flag,
                dest=option.dest,
                default=None,
                metavar=option.metavar,
                choices=option.choices,
                help=option.help,
            )
            parser.addini(option.ini, f"default of {option.flag}: {option.help}", default="")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not (config.getoption("podnet_list_images") or config.getini("podnet_list_images")):
        return None
    for image in Settings.from_config(config).images:
        print(image)
    return 0


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    settings = Settings.from_config(config)
    config.stash[SETTINGS_KEY] = settings
    if not settings.enabled:
        return
    # Only when asked: the fixtures import the Kubernetes client, which other projects' runs
    # should not pay for. Without --podnet, tests that ask for them are skipped at collection.
    config.pluginmanager.import_plugin(FIXTURES_PLUGIN)
    if not _is_worker(config) and not _only_lists(config):
        config.pluginmanager.register(VerdictCollector(config), VerdictCollector.name)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    settings = config.stash[SETTINGS_KEY]
    if not settings.enabled or _only_lists(config):
        return
    from pytest_podnet import preflight

    if _is_worker(config):
        config.stash[_FACTS_KEY] = dict(config.workerinput.get(WORKER_FACTS, {}))  # type: ignore[attr-defined]
        config.stash[CLUSTER_KEY] = preflight.connect(settings)
        return
    kubeconfig = settings.kubeconfig
    try:
        if settings.cluster == "local":
            path, started = preflight.start_local_cluster(settings)
            config.stash[_STARTED_LOCAL_KEY] = started
            kubeconfig = str(path)
        cluster, facts = preflight.run(settings, kubeconfig=kubeconfig)
    except pytest.UsageError as err:
        collector = config.pluginmanager.get_plugin(VerdictCollector.name)
        if isinstance(collector, VerdictCollector):
            collector.preflight_error = str(err)
        raise
    config.stash[_KUBECONFIG_KEY] = kubeconfig
    config.stash[CLUSTER_KEY] = cluster
    config.stash[_FACTS_KEY] = facts


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: WorkerController) -> None:
    config = node.config
    settings = config.stash[SETTINGS_KEY]
    node.workerinput[WORKER_RUN_ID] = settings.run_id
    if not settings.enabled:
        return
    kubeconfig = config.stash.get(_KUBECONFIG_KEY, None)
    if kubeconfig is not None:
        node.workerinput[WORKER_KUBECONFIG] = kubeconfig
    node.workerinput[WORKER_FACTS] = config.stash.get(_FACTS_KEY, {})


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    settings = config.stash[SETTINGS_KEY]
    if not settings.enabled:
        return None
    facts = config.stash.get(_FACTS_KEY, {})
    return report.header_lines(facts, settings.images, settings.run_id, settings.timeout_scale)


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m/-k deselection sees the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    settings = config.stash[SETTINGS_KEY]
    if settings.quick:
        selected = [item for item in items if item.get_closest_marker("podnet_quick")]
        deselected = [item for item in items if not item.get_closest_marker("podnet_quick")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
    node_count = len(config.stash.get(_FACTS_KEY, {}).get("nodes", [])) or None
    for item in items:
        guarantee = item.get_closest_marker("podnet_guarantee")
        if guarantee is not None:
            gid = _guarantee_id(item, guarantee)
            item.user_properties.append((report.GUARANTEE_PROPERTY, gid))
            # `-m podnet_g2` selects one guarantee (a marker argument cannot be matched by -m).
            item.add_marker(f"podnet_{gid.lower()}")
        skip = _skip_reason(item, settings, node_count)
        if skip:
            item.add_marker(pytest.mark.skip(reason=skip))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    if call.when == "call" and call.excinfo is not None:
        _name_the_guarantee(item, call.excinfo.value)
    rep = yield
    item.stash.setdefault(PHASE_REPORTS_KEY, {})[rep.when] = rep
    namespaces = item.stash.get(NAMESPACES_KEY, None)
    cluster = item.config.stash.get(CLUSTER_KEY, None)
    if rep.when in ("setup", "call") and rep.failed and namespaces and cluster is not None:
        from pytest_podnet import diagnostics

        report.attach_diagnostics(rep, lambda: diagnostics.collect(cluster, namespaces))
    return rep


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(_STARTED_LOCAL_KEY, False):
        from pytest_podnet import preflight

        preflight.stop_local_cluster()


def _only_lists(config: pytest.Config) -> bool:
    """Runs that list tests or fixtures and run none need no cluster."""
    option = config.option
    return bool(
        getattr(option, "collectonly", False)
        or getattr(option, "showfixtures", False)
        or getattr(option, "show_fixtures_per_test", False)
    )


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _name_the_guarantee(item: pytest.Item, error: BaseException) -> None:
    """Start a check's failure message with the guarantee it broke, if the message lacks it.

    A check's own assertions name it; a failure raised deeper down (a wait running out inside a
    façade action, an API error) does not, and a platform engineer reads the first line first.
    """
    marker = item.get_closest_marker("podnet_guarantee")
    if marker is None or not error.args or not isinstance(error.args[0], str):
        return
    gid = _guarantee_id(item, marker)
    if not error.args[0].startswith(gid):
        title = report.GUARANTEES.get(gid, "")
        error.args = (f"{gid} ({title}) broken: {error.args[0]}", *error.args[1:])


def _guarantee_id(item: pytest.Item, marker: pytest.Mark) -> str:
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.UsageError(
            f"{item.nodeid}: write podnet_guarantee with one id, e.g. "
            f'pytest.mark.podnet_guarantee("G1"); got args {marker.args!r}'
        )
    return marker.args[0]


def _uses_podnet(item: pytest.Item) -> bool:
    # The exact names, not a "podnet_*" prefix: other projects may name their fixtures so.
    return not FIXTURE_NAMES.isdisjoint(getattr(item, "fixturenames", ()))


def _skip_reason(item: pytest.Item, settings: Settings, node_count: int | None) -> str | None:
    if not settings.enabled:
        if _uses_podnet(item):
            return "pass --podnet to run pytest-podnet checks against a Kubernetes cluster"
        return None
    if item.get_closest_marker("podnet_privileged") and not settings.privileged:
        return "needs hostNetwork or privileged Pods: pass --podnet-privileged to run it"
    if item.get_closest_marker("podnet_cross_node") and node_count is not None and node_count < 2:
        return f"needs 2 schedulable nodes, the cluster has {node_count}"
    return None


class VerdictCollector:
    """Per-guarantee verdicts from every test's reports; on the controller when xdist runs."""

    name = "podnet-verdict"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.ledger = report.Ledger()
        self.preflight_error: str | None = None
        self.written = False

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.ledger.add(report)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        terminalreporter.section("podnet verdict")
        for line in report.verdict_table(self.ledger.verdicts()):
            terminalreporter.line(line)
        path = self.config.stash[SETTINGS_KEY].report_path
        if path:
            terminalreporter.line(f"podnet: JSON verdict written to {path}")

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        self._write(int(exitstatus))

    def pytest_unconfigure(self) -> None:
        # A failed preflight ends the run before sessionfinish; CI still gets a verdict file.
        if not self.written and self.preflight_error is not None:
            self._write(int(pytest.ExitCode.USAGE_ERROR))

    def _write(self, exitstatus: int) -> None:
        self.written = True
        settings = self.config.stash[SETTINGS_KEY]
        if not settings.report_path:
            return
        facts: dict[str, Any] = self.config.stash.get(_FACTS_KEY, {})
        run = {
            "run_id": settings.run_id,
            "exit_status": exitstatus,
            "preflight_error": self.preflight_error,
            "cluster": settings.cluster,
            "images": list(settings.images),
            "timeout_scale": settings.timeout_scale,
            "ip_reuse": settings.ip_reuse,
            **facts,
        }
        document = report.verdict_document(self.ledger.results, self.ledger.verdicts(), run=run)
        report.write_json(settings.report_path, document)
