"""`python3 context_digest.py REPO DOCKERFILE IGNOREFILE`: a digest of what a build of DOCKERFILE reads.

The Dockerfile, the ignore file, and every file of the repository (tracked, or untracked and not
ignored by git) that the ignore file lets into the build context, by path and content. Ignore rules as
Docker applies them: in order, the last matching one wins, `!` lets a path back in, and a rule that
matches a directory matches everything under it.
"""

import fnmatch
import hashlib
import subprocess
import sys
from pathlib import Path


def rules(ignore_file: Path) -> list[tuple[bool, str]]:
    parsed = []
    for line in ignore_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        parsed.append((negate, pattern))
    return parsed


def in_context(path: str, parsed: list[tuple[bool, str]]) -> bool:
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    included = True
    for negate, pattern in parsed:
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            included = negate
    return included


def main() -> None:
    repo, dockerfile, ignore_file = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    # safe.directory: run as root (the node needs it) on a clone of another user's, git would refuse.
    listed = subprocess.run(
        ["git", "-c", f"safe.directory={repo}", "-C", str(repo), "ls-files", "--cached", "--others",
         "--exclude-standard", "-z"],
        stdout=subprocess.PIPE,
        check=False,
    )
    if listed.returncode != 0:
        sys.exit(f"error: cannot list the files of {repo} with git (see above); the images are built from a git checkout")
    names = listed.stdout.decode()
    parsed = rules(ignore_file)
    digest = hashlib.sha256()
    for path in (dockerfile, ignore_file):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in sorted(p for p in names.split("\0") if p and in_context(p, parsed)):
        file = repo / name
        if file.is_file():
            digest.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
