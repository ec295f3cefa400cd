"""Two real clusters, the hooks under gunicorn with TLS, and the Metacontroller test driver."""

from collections.abc import Iterator

import pytest

from tests.testbed.bed import Bed, running_bed

#: The core subset (`pytest -m core`), which `make test` also runs on the oldest and newest supported Kubernetes
#: (tests/testbed/matrix.py): the bed's versions, the install (as pods with the node: the hooks, the certificate Job
#: and CronJob under restricted Pod Security, NetworkPolicy enforced), the walkthrough, imports' lifecycle and the
#: API server's validation, a renewal reaching a running pod, kubemcsa bootstrap/doctor/rotate/export, the
#: admission policies, and the webhook's outage behaviour.
CORE_MODULES = frozenset(
    {
        "test_versions.py",
        "test_install.py",
        "test_node.py",
        "test_walkthrough.py",
        "test_lifecycle.py",
        "test_kubemcsa.py",
        "test_policy.py",
        "test_outages.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
            if item.path.name in CORE_MODULES:
                item.add_marker(pytest.mark.core)


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    with running_bed(tmp_path_factory.mktemp("testbed")) as bed:
        yield bed
        leaked = bed.leaked_tokens()
        assert not leaked, f"tokens appear in the hooks' log (first characters: {leaked})"


@pytest.fixture(autouse=True)
def _real_node(request: pytest.FixtureRequest) -> None:
    """Tests marked `node` need cluster1's real node. Without root the bed has none (make test says
    so); in CI the bed refuses to start without it, so these never skip there."""
    if request.node.get_closest_marker("node") is not None and request.getfixturevalue("testbed").node is None:
        pytest.skip("needs cluster1's real node: run `make test` as root")
