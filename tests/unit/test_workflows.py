"""The release's GitHub workflows and files: actionlint (built from the Go module proxy) finds nothing in
.github/workflows/, and the workflows do what a release needs: a tag that must equal VERSION, every test
first, the four images for both platforms under the owner's registry, install.yaml and the chart on the
release, PyPI by trusted publishing (no stored token), the fewest permissions; and the release's files
(LICENSE, CHANGELOG.md, SECURITY.md) are there."""

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
RELEASE = WORKFLOWS / "release.yaml"
CI = WORKFLOWS / "ci.yaml"
VERSION = (REPO / "VERSION").read_text().strip()
PLATFORMS = "linux/amd64,linux/arm64"
#: The sha256 of the Apache License 2.0 as apache.org publishes it (LICENSE-2.0.txt).
APACHE_2_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
OWNER_IMAGE = "ghcr.io/${{ needs.version.outputs.owner }}/${{ matrix.name }}:${{ needs.version.outputs.version }}"


def load(path: Path) -> dict[str, Any]:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(action + "@")]


def run_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(job))


@pytest.fixture(scope="module")
def actionlint() -> str:
    built = subprocess.run(
        [REPO / "tests" / "tools" / "build-actionlint.sh"], capture_output=True, text=True, timeout=900, check=False
    )
    assert built.returncode == 0, f"tests/tools/build-actionlint.sh failed:\n{built.stderr}"
    return built.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    return load(RELEASE)


@pytest.fixture(scope="module")
def ci() -> dict[str, Any]:
    return load(CI)


def lint(actionlint: str, *files: Path) -> tuple[int, list[dict[str, Any]]]:
    result = subprocess.run(
        [actionlint, "-no-color", "-format", "{{json .}}", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )
    assert result.returncode in (0, 1), f"actionlint could not run: {result.stderr}"
    return result.returncode, json.loads(result.stdout or "[]")


def test_actionlint_finds_nothing_in_the_workflows(actionlint: str) -> None:
    files = sorted(WORKFLOWS.glob("*.y*ml"))
    assert {path.name for path in files} >= {"release.yaml", "ci.yaml"}
    code, findings = lint(actionlint, *files)
    assert code == 0 and not findings, "actionlint:\n" + "\n".join(
        f"{f['filepath']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]" for f in findings
    )


def test_actionlint_fails_on_a_broken_workflow(actionlint: str, tmp_path: Path) -> None:
    """The check above can fail: a workflow with an unknown context and an untrusted input in a script."""
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.head_commit.message }} ${{ nothing.here }}\n"
    )
    code, findings = lint(actionlint, broken)
    assert code == 1
    kinds = {finding["kind"] for finding in findings}
    assert {"expression"} <= kinds, findings


def test_every_action_is_pinned_to_a_full_commit(release: dict[str, Any], ci: dict[str, Any]) -> None:
    """Each `uses:` names a 40-hex commit and, in a comment, the tag it is (local workflows aside)."""
    unpinned = []
    for path in (RELEASE, CI):
        for line in path.read_text().splitlines():
            match = re.search(r"uses: (\S+)(.*)", line)
            if not match or match.group(1).startswith("./"):
                continue
            if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match.group(1)) or not re.fullmatch(
                r" # v\d+(\.\d+)*", match.group(2)
            ):
                unpinned.append(f"{path.name}: {line.strip()}")
    assert not unpinned, unpinned


def test_release_runs_on_version_tags_only(release: dict[str, Any]) -> None:
    assert release["on"] == {"push": {"tags": ["v*"]}}


def test_release_permissions_are_the_fewest_each_job_needs(release: dict[str, Any]) -> None:
    assert release["permissions"] == {}, "no permission by default: each job names its own"
    wanted = {
        "version": {"contents": "read"},
        "test": {"contents": "read"},
        "dist": {"contents": "read"},
        "images": {"contents": "read", "packages": "write"},
        "chart": {"contents": "read", "packages": "write"},
        "github-release": {"contents": "write"},
        "pypi": {"id-token": "write"},
    }
    assert {name: job.get("permissions") for name, job in release["jobs"].items()} == wanted


@pytest.mark.parametrize(
    ("tag", "owner", "ok"),
    [(f"v{VERSION}", "AdmiraltyIO", True), ("v9.9.9", "admiraltyio", False), (VERSION, "admiraltyio", False)],
)
def test_release_fails_unless_the_tag_is_v_and_version(
    release: dict[str, Any], tmp_path: Path, tag: str, owner: str, ok: bool
) -> None:
    """The version job's script, run as the runner runs it (bash -e), in the checkout."""
    (step,) = [step for step in steps(release["jobs"]["version"]) if step.get("id") == "version"]
    output = tmp_path / "output"
    output.touch()
    env = {"PATH": os.environ["PATH"], "TAG": tag, "OWNER": owner, "GITHUB_OUTPUT": str(output)}
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
        assert output.read_text().splitlines() == [f"version={VERSION}", f"owner={owner.lower()}"]
    else:
        assert result.returncode != 0
        assert f"tag {tag} does not match VERSION ({VERSION})" in result.stdout
        assert output.read_text() == ""


def test_nothing_is_published_before_every_test_passed(release: dict[str, Any]) -> None:
    test = release["jobs"]["test"]
    assert test["uses"] == "./.github/workflows/ci.yaml"
    for name in ("images", "chart", "github-release", "pypi"):
        needs = release["jobs"][name]["needs"]
        assert "version" in needs and "test" in needs, f"{name} needs {needs}"
    # PyPI never takes a version twice: it goes last.
    assert {"images", "chart", "github-release"} <= set(release["jobs"]["pypi"]["needs"])


def released_images() -> dict[str, str]:
    """tests/tools/build-images.sh's release names (what the tests run) and their Dockerfiles."""
    script = (REPO / "tests" / "tools" / "build-images.sh").read_text()
    return dict(re.findall(r'"\$registry/([a-z0-9-]+):\$version\|([^|]+)\|', script))


def test_release_builds_the_four_images_for_both_platforms(release: dict[str, Any]) -> None:
    job = release["jobs"]["images"]
    matrix = {entry["name"]: entry["file"] for entry in job["strategy"]["matrix"]["include"]}
    assert matrix == released_images()
    assert set(matrix) == {
        "multicluster-service-account",
        "multicluster-service-account-credential-plugin",
        "multicluster-service-account-example-multicluster-client",
        "multicluster-service-account-example-generic-client",
    }
    for file in matrix.values():
        assert (REPO / file).is_file()
        if file != "Dockerfile":  # BuildKit reads <Dockerfile>.dockerignore beside it
            assert (REPO / f"{file}.dockerignore").is_file()
    assert [step["with"]["platforms"] for step in uses(job, "docker/setup-qemu-action")] == ["arm64"]
    assert len(uses(job, "docker/setup-buildx-action")) == 1
    (login,) = uses(job, "docker/login-action")
    assert login["with"] == {
        "registry": "ghcr.io",
        "username": "${{ github.actor }}",
        "password": "${{ secrets.GITHUB_TOKEN }}",
    }
    (build,) = uses(job, "docker/build-push-action")
    assert build["with"]["context"] == "."
    assert build["with"]["file"] == "${{ matrix.file }}"
    assert build["with"]["platforms"] == PLATFORMS
    assert build["with"]["push"] is True
    assert build["with"]["tags"] == OWNER_IMAGE
    # The credential plugin's ARG VERSION is the release's.
    assert "VERSION=${{ needs.version.outputs.version }}" in build["with"]["build-args"]


def test_the_owner_is_the_repositorys_lowercased(release: dict[str, Any]) -> None:
    (step,) = [step for step in steps(release["jobs"]["version"]) if step.get("id") == "version"]
    assert step["env"]["OWNER"] == "${{ github.repository_owner }}"
    assert 'owner=${OWNER,,}"' in step["run"]


def test_dist_builds_with_make_dist_without_images(release: dict[str, Any]) -> None:
    """make dist builds what the release attaches, as the tests build it; its images are for this machine's
    platform and need root, so the workflow asks for none (BuildKit builds them for both platforms)."""
    job = release["jobs"]["dist"]
    (step,) = [step for step in steps(job) if step.get("run") == "make dist"]
    assert step["env"] == {"DIST_IMAGES": "no"}
    assert "DIST_IMAGES" in (REPO / "hack" / "dist.sh").read_text(), (
        "hack/dist.sh must skip the images when DIST_IMAGES=no (else make dist fails without root)"
    )
    (upload,) = uses(job, "actions/upload-artifact")
    assert upload["with"]["path"] == "dist/"


def test_release_attaches_install_yaml_and_the_chart(release: dict[str, Any]) -> None:
    script = run_text(release["jobs"]["github-release"])
    for name in (
        "dist/install.yaml",
        "dist/install-cert-manager.yaml",
        "dist/clusterprofile-provider-file.json",
        '"dist/multicluster-service-account-$VERSION.tgz"',
    ):
        assert name in script
    assert "gh release create" in script and "--verify-tag" in script
    assert release["jobs"]["github-release"]["steps"][-1]["env"]["GH_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"


def test_release_notes_are_this_versions_changelog_entry(release: dict[str, Any]) -> None:
    """The awk program of the release job, on CHANGELOG.md: the entry's text, without the next entry."""
    script = run_text(release["jobs"]["github-release"])
    match = re.search(r"awk -v v=\"\$VERSION\" '(.*?)' CHANGELOG.md", script, re.S)
    assert match, "the release job's awk program"
    awk = shutil.which("awk")
    assert awk, "awk"
    notes = subprocess.run(
        [awk, "-v", f"v={VERSION}", match.group(1), str(REPO / "CHANGELOG.md")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "### Added" in notes
    assert "## [" not in notes and "[Unreleased]:" not in notes


def test_chart_is_pushed_to_the_owners_registry(release: dict[str, Any]) -> None:
    script = run_text(release["jobs"]["chart"])
    assert "tests/tools/build-helm.sh" in script
    assert '"$helm" push "dist/multicluster-service-account-$VERSION.tgz" "oci://ghcr.io/$OWNER/charts"' in script
    assert "--password-stdin" in script


def test_pypi_by_trusted_publishing_and_no_stored_token(release: dict[str, Any]) -> None:
    job = release["jobs"]["pypi"]
    assert job["environment"]["name"] == "pypi"
    assert job["permissions"] == {"id-token": "write"}
    (publish,) = uses(job, "pypa/gh-action-pypi-publish")
    assert publish["with"] == {"packages-dir": "dist/python/"}, "no user, password or repository: trusted publishing"
    for path in (RELEASE, CI):
        secrets = set(re.findall(r"secrets\.(\w+)", path.read_text()))
        assert secrets <= {"GITHUB_TOKEN"}, f"{path.name} uses stored secrets {secrets}"


def test_ci_runs_ci_run_as_root_with_the_cache(ci: dict[str, Any]) -> None:
    assert set(ci["on"]) == {"push", "pull_request", "workflow_call"}
    assert ci["on"]["push"] == {"branches": ["**"]}, "tag pushes run the tests from release.yaml"
    assert ci["permissions"] == {"contents": "read"}
    (job,) = ci["jobs"].values()
    script = run_text(job)
    assert re.search(r"^sudo -E env \"PATH=\$PATH\" bash \.ci/run$", script, re.M)
    assert (REPO / ".ci" / "run").is_file() and "make test" in (REPO / ".ci" / "run").read_text()
    (cache,) = uses(job, "actions/cache")
    assert "hashFiles('tests/tools/versions.env'" in cache["with"]["key"]
    assert "~/.cache/multicluster-service-account/bin" in cache["with"]["path"]
    (python,) = uses(job, "actions/setup-python")
    assert python["with"]["python-version"] == "3.11"
    (go,) = uses(job, "actions/setup-go")
    assert go["with"]["go-version-file"] == "credential-plugin/go.mod"


def test_license_is_the_apache_license_2_0_verbatim() -> None:
    text = (REPO / "LICENSE").read_bytes()
    assert hashlib.sha256(text).hexdigest() == APACHE_2_SHA256
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^license = "Apache-2.0"$', pyproject, re.M)


def test_changelog_has_this_version_and_unreleased() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.search(rf"^## \[{re.escape(VERSION)}\] - \d{{4}}-\d{{2}}-\d{{2}}$", changelog, re.M)
    assert re.search(rf"^\[{re.escape(VERSION)}\]: \S+/releases/tag/v{re.escape(VERSION)}$", changelog, re.M)


def test_security_policy_says_how_to_report_privately() -> None:
    policy = (REPO / "SECURITY.md").read_text()
    assert "Report a vulnerability" in policy and "private vulnerability reporting" in policy
    assert "## Supported versions" in policy and "## Scope" in policy
    minor = ".".join(VERSION.split(".")[:2])
    assert f"| {minor}.x | yes |" in policy, "the supported version is the current minor"
