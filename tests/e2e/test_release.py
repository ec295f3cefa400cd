"""The release, on cluster1's node: `make dist` (hack/dist.sh) builds every artifact, and its install.yaml
upgrades the previous release's install while imports stay Ready, keep their Secrets, and no pod
creation fails."""

import json
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from hooks import contract
from tests.testbed.bed import CERTIFICATE_JOB, Bed
from tests.testbed.scenario import HOOKS, REPO, imported_secret, kubectl

from .helpers import GROUP, VERSION, ready, synced_import
from .test_outages import back_to_two, creating_pods

pytestmark = pytest.mark.node
NS = contract.CREDENTIALS_NAMESPACE
RELEASE = (REPO / "VERSION").read_text().strip()
REGISTRY = "ghcr.io/admiraltyio"
IMAGES = [
    "multicluster-service-account",
    "multicluster-service-account-credential-plugin",
    "multicluster-service-account-example-multicluster-client",
    "multicluster-service-account-example-generic-client",
]
PREVIOUS = Path(__file__).parent / "previous-release" / "install.yaml"
#: The previous release's image names, each the image of this one (same code, other name): the upgrade
#: changes every image reference, so the Deployment rolls out and the certificate step runs again.
PREVIOUS_IMAGES = {
    "docker.io/library/multicluster-service-account:0.1.0": f"{REGISTRY}/multicluster-service-account:{RELEASE}",
    "docker.io/library/multicluster-service-account-credential-plugin:0.1.0": (
        f"{REGISTRY}/multicluster-service-account-credential-plugin:{RELEASE}"
    ),
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([str(REPO / "hack" / "dist.sh"), str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def objects(text: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def images_of(docs: list[dict]) -> set[str]:
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "image" and isinstance(item, str):
                    found.add(item)
                elif key == "env" and isinstance(item, list):
                    found.update(e["value"] for e in item if e.get("name") == "MCSA_CREDENTIAL_PLUGIN_IMAGE")
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(docs)
    return found


def test_make_dist_builds_every_artifact(dist: Path) -> None:
    checked = subprocess.run(
        ["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=dist, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = {line.split(maxsplit=1)[1] for line in (dist / "SHA256SUMS").read_text().splitlines()}
    python = {
        f"python/kubemcsa-{RELEASE}.tar.gz",
        f"python/kubemcsa-{RELEASE}-py3-none-any.whl",
        f"python/multicluster_service_account-{RELEASE}.tar.gz",
        f"python/multicluster_service_account-{RELEASE}-py3-none-any.whl",
    }
    images = {f"images/{name}-{RELEASE}.oci.tar" for name in IMAGES}
    expected = {"install.yaml", "install-cert-manager.yaml", f"multicluster-service-account-{RELEASE}.tgz"}
    expected.add("clusterprofile-provider-file.json")
    assert listed == expected | python | images
    for name in IMAGES:
        with tarfile.open(dist / "images" / f"{name}-{RELEASE}.oci.tar") as archive:
            index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]
        refs = {m.get("annotations", {}).get("org.opencontainers.image.ref.name") for m in index["manifests"]}
        assert refs & {f"{REGISTRY}/{name}:{RELEASE}", RELEASE}, refs


@pytest.mark.parametrize("variant", ["install.yaml", "install-cert-manager.yaml"])
def test_install_yaml_is_the_kustomize_install_with_the_release_images(dist: Path, variant: str) -> None:
    manifests = "manifests/cert-manager" if variant == "install-cert-manager.yaml" else "manifests"
    expected = [
        *objects(kubectl_kustomize(REPO / manifests)),
        *objects(kubectl_kustomize(REPO / "metacontroller")),
    ]
    released = objects((dist / variant).read_text())
    assert released == expected
    assert images_of(released) == {
        f"{REGISTRY}/multicluster-service-account:{RELEASE}",
        f"{REGISTRY}/multicluster-service-account-credential-plugin:{RELEASE}",
    }


def kubectl_kustomize(path: Path) -> str:
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "kubectl"), "kustomize", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def apply(bed: Bed, path: Path) -> None:
    kubectl(bed.kubeconfig, "--context", "cluster1", "apply", "-f", str(path))


def wait_for_install(bed: Bed) -> None:
    """The README's waits after an install or upgrade, then the Job removed as its TTL would remove it
    (a later apply with another image makes a new one; a Job's template cannot change)."""
    for args in (
        ("wait", "--for=condition=complete", "--timeout=180s", f"job/{CERTIFICATE_JOB}"),
        ("rollout", "status", "--timeout=180s", f"deploy/{HOOKS}"),
    ):
        kubectl(bed.kubeconfig, "--context", "cluster1", "-n", NS, *args)
    kubectl(bed.kubeconfig, "--context", "cluster1", "-n", NS, "delete", "job", CERTIFICATE_JOB, "--wait")
    back_to_two(bed)


@pytest.fixture
def previous_release(testbed: Bed) -> Iterator[None]:
    """cluster1 with the previous release's install (its images named as it named them)."""
    assert testbed.node is not None
    for old, new in PREVIOUS_IMAGES.items():
        tagged = testbed.node.ctr("images", "tag", "--force", new, old)
        assert tagged.returncode == 0, tagged.stderr
    kubectl(
        testbed.kubeconfig, "--context", "cluster1", "-n", NS, "delete", "job", CERTIFICATE_JOB, "--ignore-not-found"
    )
    apply(testbed, PREVIOUS)
    wait_for_install(testbed)
    yield
    # Back to this checkout's install whatever happened, for the tests that follow.
    kubectl(
        testbed.kubeconfig, "--context", "cluster1", "-n", NS, "delete", "job", CERTIFICATE_JOB, "--ignore-not-found"
    )
    kubectl(testbed.kubeconfig, "--context", "cluster1", "apply", "-k", str(REPO / "manifests"))
    kubectl(testbed.kubeconfig, "--context", "cluster1", "apply", "-k", str(REPO / "metacontroller"))
    kubectl(
        testbed.kubeconfig, "--context", "cluster1", "-n", NS, "rollout", "status", "--timeout=180s", f"deploy/{HOOKS}"
    )


def hooks_images(bed: Bed) -> set[str]:
    deployment = k8s.AppsV1Api(bed.api1).read_namespaced_deployment(HOOKS, NS)
    return {str(c.image) for c in deployment.spec.template.spec.containers}


def test_upgrading_from_the_previous_release_keeps_every_import_and_fails_no_pod_creation(
    testbed: Bed, dist: Path, previous_release: None
) -> None:
    assert hooks_images(testbed) == {"multicluster-service-account:0.1.0"}
    names = [f"upgrade-{i}" for i in range(3)]
    for name in names:
        synced_import(testbed, "upgrade", name)
        assert ready(testbed, "upgrade", name)["status"] == "True"
    before = {name: imported_secret(testbed.api1, "upgrade", name) for name in names}
    for secret in before.values():
        assert secret is not None
        testbed.remember(secret)

    with creating_pods(testbed, "upgrade") as outcome:
        time.sleep(2)
        apply(testbed, dist / "install.yaml")
        wait_for_install(testbed)
        time.sleep(3)
    assert not outcome["failed"], outcome["failed"][:5]
    assert len(outcome["admitted"]) >= 50, len(outcome["admitted"])
    assert hooks_images(testbed) == {f"{REGISTRY}/multicluster-service-account:{RELEASE}"}

    driver = testbed.driver()
    for name in names:
        driver.sync_parent("upgrade", name)
        assert ready(testbed, "upgrade", name)["status"] == "True"
        after = imported_secret(testbed.api1, "upgrade", name)
        assert after is not None
        old = before[name]
        assert old is not None
        assert after.metadata.uid == old.metadata.uid, f"the Secret of {name} was replaced"
        assert after.data["token"] == old.data["token"], f"the token of {name} changed without being due"
    for name in names:
        k8s.CustomObjectsApi(testbed.api1).delete_namespaced_custom_object(
            GROUP, VERSION, "upgrade", contract.PLURAL, name
        )
