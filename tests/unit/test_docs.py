"""The README is a front page and docs/ holds the rest: its length, every relative link and anchor, every page
reachable from the README, no test-bed words where users read, and docs/install.md's registry overlay renders."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
#: Pages for contributors, which may speak of the test bed; every other page is for users.
DEVELOPER_PAGES = {"development.md", "performance.md"}
USER_PAGES = [README, *(page for page in PAGES if page.name not in DEVELOPER_PAGES)]
#: Words of the project's tests that mean nothing to a user.
TEST_BED_WORDS = ("test bed", "testbed", "test double", "the seed", "seed's", "stand-in", "stands in")
MAX_README_LINES = 250

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def prose(path: Path) -> str:
    """The text of a page without its fenced code blocks (links and headings inside them are not links)."""
    return FENCE.sub("", path.read_text())


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, markup and punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())  # a link's text only
    text = text.lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose(path).splitlines():
        match = re.match(r"#{1,6} (.+)", line)
        if not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(path: Path) -> list[str]:
    return [target for target in LINK.findall(prose(path)) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor in {resolved.relative_to(REPO)}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    reached, todo = set(), [README.resolve()]
    while todo:
        page = todo.pop()
        if page in reached:
            continue
        reached.add(page)
        for target in relative_links(page):
            file = target.partition("#")[0]
            linked = (page.parent / file).resolve()
            if file.endswith(".md") and linked.exists():
                todo.append(linked)
    unreached = [page.name for page in PAGES if page.resolve() not in reached]
    assert not unreached, f"docs pages no link from README.md leads to: {unreached}"


def test_the_readme_is_a_front_page() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail to docs/ (at most {MAX_README_LINES})"


@pytest.mark.parametrize("page", USER_PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_user_pages_do_not_speak_of_the_test_bed(page: Path) -> None:
    text = page.read_text().lower()
    found = [word for word in TEST_BED_WORDS if word in text]
    assert not found, f"{page.relative_to(REPO)} says {found}: say it for users, or move it to docs/development.md"


def test_the_test_bed_words_are_checked_somewhere() -> None:
    """So that a renamed or emptied page list does not silently check nothing."""
    assert {page.name for page in USER_PAGES} >= {"README.md", "install.md", "troubleshooting.md"}


KUBECTL = Path(sys.executable).parent / "kubectl"


def test_the_registry_overlay_renders_every_image_from_the_registry(tmp_path: Path) -> None:
    """docs/install.md's overlay for another registry: rendered over manifests/, every image of the hooks and
    the credential plugin's (a setting of the hooks) come from that registry."""
    assert KUBECTL.exists(), f"{KUBECTL} is missing: run make venv (requirements-dev.txt installs kubectl)"
    text = (DOCS / "install.md").read_text()
    section = text.split("### From your own registry", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    overlay = tmp_path / "my-install"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(block)
    (tmp_path / "manifests").symlink_to(REPO / "manifests")
    rendered = subprocess.run(
        [str(KUBECTL), "kustomize", str(overlay)], capture_output=True, text=True, check=True
    ).stdout
    documents = [doc for doc in yaml.safe_load_all(rendered) if doc]
    images = {line.split("image:", 1)[1].strip() for line in rendered.splitlines() if "image:" in line}
    assert images and all(image.startswith("registry.example.com/") for image in images), images
    [deployment] = [doc for doc in documents if doc["kind"] == "Deployment"]
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MCSA_CREDENTIAL_PLUGIN_IMAGE"].startswith("registry.example.com/")
