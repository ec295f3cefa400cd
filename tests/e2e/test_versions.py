"""The bed runs the Kubernetes versions it says: the control planes of MCSA_KUBE_VERSION (the version matrix's
runs, tests/testbed/matrix.py) or else of KUBE_VERSION, and the node of KUBE_VERSION."""

import subprocess

from kubernetes import client as k8s

from tests.testbed.bed import Bed
from tests.testbed.cluster import binaries_dir, kube_version, pinned_versions


def test_the_control_planes_and_the_node_run_the_versions_asked_for(testbed: Bed) -> None:
    expected = kube_version()
    served = {
        name: k8s.VersionApi(api).get_code().git_version
        for name, api in (("cluster1", testbed.api1), ("cluster2", testbed.api2))
    }
    assert served == {"cluster1": expected, "cluster2": expected}
    controller_manager = subprocess.run(
        [str(binaries_dir() / "kube-controller-manager"), "--version"], check=True, capture_output=True, text=True
    )
    assert controller_manager.stdout.split() == ["Kubernetes", expected]
    if testbed.node is not None:
        [node] = k8s.CoreV1Api(testbed.api1).list_node().items
        assert node.status.node_info.kubelet_version == pinned_versions()["KUBE_VERSION"]
