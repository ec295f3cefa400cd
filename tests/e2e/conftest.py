"""Two real clusters, the hooks under gunicorn with TLS, and the Metacontroller test driver."""

from collections.abc import Iterator

import pytest

from tests.testbed.bed import Bed, running_bed


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    with running_bed(tmp_path_factory.mktemp("testbed")) as bed:
        yield bed
        leaked = bed.leaked_tokens()
        assert not leaked, f"tokens appear in the hooks' log {bed.hooks_log} (first characters: {leaked})"
