"""The runner image: reproducible, lean, named and configured for a restricted Job; and the API
server answers a Pod of the embedded cluster through the ``kubernetes`` Service.

The archive checks need Debian's python3.11 (the image's interpreter) and run without a cluster;
the last test uses the running cluster (as admin, through kubectl).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pytest_podnet.localcluster import images, runner_image
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE

from .conftest import Kubectl
from .test_images import ImageContents, read_archive

pytestmark = pytest.mark.skipif(
    not runner_image.PYTHON.is_file(), reason=f"needs Debian's {runner_image.PYTHON}"
)
SITE = runner_image.SITE_PACKAGES


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[images.ImageArchive, ...]:
    """The archive built twice, into two empty directories."""
    return tuple(
        runner_image.build_runner_image(out_dir=tmp_path_factory.mktemp(f"runner-{n}"))
        for n in (1, 2)
    )


@pytest.fixture(scope="module")
def runner(built: tuple[images.ImageArchive, ...]) -> ImageContents:
    return read_archive(built[0])


def test_runner_image_is_reproducible(built: tuple[images.ImageArchive, ...]) -> None:
    first, second = built
    assert first.digest == second.digest
    assert first.path.read_bytes() == second.path.read_bytes()


def test_runner_image_is_named_after_the_version_and_runs_the_runner_as_non_root(
    runner: ImageContents,
) -> None:
    from pytest_podnet import __version__

    assert runner.annotations["io.containerd.image.name"] == runner_image.RUNNER_IMAGE
    assert runner_image.RUNNER_IMAGE.endswith(f":{__version__}")
    config = runner.config["config"]
    assert config["Entrypoint"] == ["/usr/bin/python3", "-m", "pytest_podnet.runner"]
    assert config["User"] == "65532:65532"
    assert config["WorkingDir"] == "/tmp"


def test_runner_layer_holds_python_the_plugin_and_suites_and_no_bytecode_or_tests(
    runner: ImageContents,
) -> None:
    names = set(runner.layer)
    for needed in (
        "usr/bin/python3.11",
        "usr/lib/python3.11/os.py",
        f"{SITE}/pytest_podnet/runner.py",
        f"{SITE}/pytest_podnet/suites/test_service_ip_stable.py",
        f"{SITE}/kubernetes/client/api_client.py",
        f"{SITE}/_pytest/main.py",
        f"{SITE}/xdist/plugin.py",
    ):
        assert needed in names, needed
    assert any(
        n.startswith(f"{SITE}/pytest_podnet-") and n.endswith("entry_points.txt") for n in names
    )
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [
        n for n in names if n.startswith(("usr/lib/python3.11/test/", f"{SITE}/kubernetes/aio/"))
    ]
    assert runner.layer["tmp"].mode == 0o1777


def test_a_pod_reaches_the_api_server_through_the_kubernetes_service(kubectl: Kubectl) -> None:
    namespace = f"cluster-test-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    try:
        kubectl.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "caller", "namespace": namespace},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": AGNHOST_IMAGE, "args": ["pause"]}],
                },
            }
        )
        kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/caller", "--timeout=120s")
        account = "/var/run/secrets/kubernetes.io/serviceaccount"
        script = (
            f"curl -sS --max-time 10 --cacert {account}/ca.crt "
            '"https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version"'
        )
        answer = kubectl("exec", "-n", namespace, "caller", "--", "sh", "-c", script)
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false")

    assert '"gitVersion"' in answer, answer


def test_a_build_with_no_input_changed_reuses_the_archive_without_planning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = runner_image.build_runner_image(out_dir=tmp_path)

    def no_plan() -> list[object]:
        raise AssertionError("planned (ldd, hashing) although no input file changed")

    monkeypatch.setattr(runner_image, "_plan", no_plan)

    assert runner_image.build_runner_image(out_dir=tmp_path) == first
