"""The clients table (docs/clients.md) says what tests/e2e/test_clients.py does."""

from pathlib import Path

import pytest

from tests.testbed.clients import CLIENT_KUBECONFIGS

REPO = Path(__file__).resolve().parents[2]
#: The README table's rows, by the start of their first cell.
README_ROWS = {
    "client-go": "client-go",
    "python": "official Python client",
    "python-aio": "`kubernetes.aio`",
    "client-node": "`@kubernetes/client-node`",
    "kube-rs": "kube-rs",
    "java-official": "official Java client",
    "fabric8": "fabric8",
}


def readme_table() -> dict[str, list[str]]:
    """The rows of the clients table in docs/clients.md, by their first cell."""
    text = (REPO / "docs" / "clients.md").read_text()
    table = text[text.index("<!-- clients-table") :].split("\n\n", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[3:]]
    return {row[0]: row for row in rows}


@pytest.mark.parametrize("client", sorted(CLIENT_KUBECONFIGS))
def test_the_readme_points_each_client_where_the_test_does(client: str) -> None:
    rows = [cells for first, cells in readme_table().items() if first.startswith(README_ROWS[client])]
    assert len(rows) == 1, f"the README's table has no single row for {client}"
    assert rows[0][1].startswith(f"`{CLIENT_KUBECONFIGS[client]}`"), rows[0]


#: Each row's tested version, and the file that pins it for the test.
PINS = {
    "client-go": ("v0.36.3", "tests/clients/go/go.mod"),
    "python": ("37.0.2", "requirements.txt"),
    "client-node": ("1.4.0", "tests/clients/node/package.json"),
    "kube-rs": ("5.0.0", "tests/clients/rust/Cargo.toml"),
    "java-official": ("27.0.0", "tests/clients/java-official/pom.xml"),
    "fabric8": ("7.9.0", "tests/clients/java-fabric8/pom.xml"),
}


@pytest.mark.parametrize("client", sorted(PINS))
def test_the_readme_names_the_versions_the_test_pins(client: str) -> None:
    version, pin = PINS[client]
    [row] = [cells for first, cells in readme_table().items() if first.startswith(README_ROWS[client])]
    assert version in row[0], f"the README's row for {client} should name {version}"
    assert version in (REPO / pin).read_text(), f"{pin} should pin {version}"
