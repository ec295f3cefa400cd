"""The version matrix's plan: which versions get the node (the version skew policy), and what each run runs."""

import pytest

from tests.testbed.cluster import pinned_versions
from tests.testbed.matrix import Run, command, environment, kubelet_may_serve, minor, plan


@pytest.mark.parametrize(
    ("kubelet", "api_server", "allowed"),
    [
        ("v1.36.3", "v1.36.0", True),
        ("v1.36.3", "v1.37.2", True),
        ("v1.34.4", "v1.37.2", True),
        ("v1.33.0", "v1.37.2", False),  # 4 minors older
        ("v1.36.3", "v1.34.4", False),  # never newer than the API server
        ("v1.36.3", "v2.36.0", False),
    ],
)
def test_a_kubelet_serves_its_own_minor_and_up_to_three_newer(kubelet: str, api_server: str, allowed: bool) -> None:
    assert kubelet_may_serve(kubelet, api_server) is allowed


def test_the_pinned_matrix_has_the_newest_version_with_the_node_and_the_oldest_without() -> None:
    pinned = pinned_versions()
    runs = plan(pinned["KUBE_MATRIX_VERSIONS"].split(), pinned["KUBE_VERSION"])
    assert runs == [Run("v1.34.4", node=False), Run("v1.37.2", node=True)]


def test_a_run_with_the_node_runs_in_the_beds_namespace_and_one_without_asks_for_the_kubelet_less_bed() -> None:
    with_node, without = Run("v1.37.2", node=True), Run("v1.34.4", node=False)
    assert command(with_node, "py") == ["py", "-m", "tests.testbed.isolated", "--", "py", "-m", "pytest", "-m", "core"]
    assert command(without, "py") == ["py", "-m", "pytest", "-m", "core and not node"]
    assert environment(with_node)["MCSA_KUBE_VERSION"] == "v1.37.2" and "MCSA_KUBELET_LESS" not in environment(
        with_node
    )
    assert environment(without)["MCSA_KUBELET_LESS"] == "1"


def test_a_version_is_read_with_or_without_its_v() -> None:
    assert minor("v1.37.2") == minor("1.37") == (1, 37)


@pytest.mark.parametrize("version", ["v1", "latest", "v1.x.2"])
def test_a_version_that_is_not_one_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes version"):
        minor(version)
