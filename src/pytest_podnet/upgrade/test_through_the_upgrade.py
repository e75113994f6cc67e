"""UPGRADE: the Pod network keeps working while the upgrade command runs.

The upgrade gate's middle phase (``--podnet-upgrade-command``, docs/upgrade-gate.md). While the
user's command runs (their upgrade: ``kubeadm upgrade``, a node-pool roll, a CNI DaemonSet
update), the disruption monitor calls every Pod-network path from every node without pause: Pod
-> Pod on the same node and across nodes, Pod -> ClusterIP over new TCP connections, over one
established TCP connection kept open, and over UDP. The check MUST find no outage longer than the
outage budget on any path, no established connection cut, and no answer that saw another source
than the caller's own Pod IP (NAT appearing mid-upgrade). A command that fails or outlives its
deadline leaves the network NOT VERIFIED across a complete upgrade.

Upstream has no such check: its upgrade tests probe a LoadBalancer on GCE only; Cilium's
``conn-disrupt`` test reports whether connections survived, per client, with Cilium alone.
"""

from __future__ import annotations

import pytest

from pytest_podnet import upgradegate
from pytest_podnet.facade import Podnet
from pytest_podnet.outcomes import NotVerified
from pytest_podnet.settings import UPGRADE_GUARANTEE
from pytest_podnet.stash import SETTINGS_KEY

pytestmark = [pytest.mark.podnet_guarantee(UPGRADE_GUARANTEE)]


def test_every_path_stays_within_the_outage_budget_while_the_command_runs(
    podnet: Podnet, pytestconfig: pytest.Config
) -> None:
    settings = pytestconfig.stash[SETTINGS_KEY]
    command = settings.upgrade_command
    if command is None:
        pytest.skip("runs only as the upgrade gate's middle phase (--podnet-upgrade-command)")
    budget, timeout = settings.outage_budget, settings.upgrade_timeout
    # The flows outlive the command's deadline, so a slow command is reported as such, not as
    # a monitor that stopped watching.
    lifetime = timeout + upgradegate.MONITOR_MARGIN
    with (
        podnet.disruption_monitor(lifetime=lifetime) as monitor,
        podnet.step(f"run the upgrade command: {command}"),
    ):
        ran = upgradegate.run_command(command, timeout=timeout)
    podnet.record("upgrade_command", command)
    podnet.record("upgrade_command_exit", ran.exit_code)
    podnet.record("upgrade_command_seconds", round(ran.seconds, 1))
    podnet.record("upgrade_command_output", ran.tail)
    podnet.record("outage_budget_s", budget)
    podnet.record("disruption_windows", upgradegate.windows_json(monitor))
    if ran.timed_out:
        raise NotVerified(
            f"the upgrade command ran longer than {timeout:g}s and was stopped: `{command}`;"
            f" its last output:\n{ran.tail}",
            "give it more time with --podnet-upgrade-timeout, or find why it hangs",
        )
    if ran.exit_code != 0:
        raise NotVerified(
            f"the upgrade command failed (exit {ran.exit_code}): `{command}`; its last output:"
            f"\n{ran.tail}",
            "fix the upgrade itself; the network was watched throughout (see the disruption"
            " record) but a failed upgrade is no basis for a verdict",
        )
    problems = monitor.verdict(budget)
    assert not problems, (
        f"while `{command}` ran ({ran.seconds:.0f}s), the Pod network broke the outage budget of "
        f"{budget:g}s:\n" + "\n".join(f"  {p}" for p in problems) + f"\nevery path:\n{monitor}"
    )
