"""VERSION is the one source of the release's version: every other place that names it must agree."""

import re
from pathlib import Path

import pytest
import yaml

from hooks import settings

REPO = Path(__file__).resolve().parents[2]
VERSION = (REPO / "VERSION").read_text().strip()
REGISTRY = "ghcr.io/admiraltyio"


def test_the_version_is_a_semantic_version() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", VERSION), VERSION


def test_the_manifests_pin_the_hooks_image_to_the_version() -> None:
    kustomization = yaml.safe_load((REPO / "manifests/base/kustomization.yaml").read_text())
    assert kustomization["images"] == [
        {
            "name": "multicluster-service-account",
            "newName": f"{REGISTRY}/multicluster-service-account",
            "newTag": VERSION,
        }
    ]


def plugin_image_in_manifests() -> str:
    deployment = next(
        doc
        for doc in yaml.safe_load_all((REPO / "manifests/base/hooks.yaml").read_text())
        if doc["kind"] == "Deployment"
    )
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return str(next(e["value"] for e in env if e["name"] == "MCSA_CREDENTIAL_PLUGIN_IMAGE"))


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(settings.DEFAULT_CREDENTIAL_PLUGIN_IMAGE, id="hooks default"),
        pytest.param(plugin_image_in_manifests(), id="manifests"),
    ],
)
def test_the_credential_plugin_image_is_of_the_version(image: str) -> None:
    assert image == f"{REGISTRY}/multicluster-service-account-credential-plugin:{VERSION}"


@pytest.mark.parametrize("example", ["generic-client", "multicluster-client"])
def test_the_examples_run_their_image_of_the_version(example: str) -> None:
    job = yaml.safe_load((REPO / "examples" / example / "job.yaml").read_text())
    images = {c["image"] for c in job["spec"]["template"]["spec"]["containers"]}
    assert images == {f"{REGISTRY}/multicluster-service-account-example-{example}:{VERSION}"}


def test_the_credential_plugins_build_defaults_to_the_version() -> None:
    dockerfile = (REPO / "credential-plugin/Dockerfile").read_text()
    assert f"ARG VERSION={VERSION} " in dockerfile


def test_the_changelog_has_an_entry_for_the_version() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(VERSION)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.MULTILINE), VERSION
