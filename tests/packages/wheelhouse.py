"""The wheels that the distributions' dependencies resolve to, pinned by requirements.txt, downloaded from PyPI
once into ~/.cache/multicluster-service-account/wheels/<digest>/ (digest of requirements.txt, the wheel's
requirements, the Python version and the machine), so that installing them needs no network.

`python -m tests.packages.wheelhouse` fills it for both distributions (it builds them to read their
requirements): `make test` runs it before the tests enter the test bed's network namespace, where nothing
reaches PyPI.
"""

import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from distributions import build

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multicluster-service-account" / "wheels"
PIP = (sys.executable, "-m", "pip", "--disable-pip-version-check")
OFFLINE_HINT = (
    " (nothing reaches PyPI from the test bed's network namespace: run python -m tests.packages.wheelhouse first)"
)


def pip(*args: str) -> None:
    """pip, without this process's PYTHON* variables: with PYTHONPATH naming the checkout (as the test bed sets
    it), pip would take the checkout's own metadata for an installed distribution and skip the wheel."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run([*PIP, *args], capture_output=True, text=True, check=False, timeout=600, env=env)
    if result.returncode != 0:
        hint = OFFLINE_HINT if os.environ.get("MCSA_TESTBED_NETNS") else ""
        raise AssertionError(f"pip {' '.join(args)} failed{hint}:\n{result.stdout}{result.stderr}")


def requires(wheel_file: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's metadata."""
    with zipfile.ZipFile(wheel_file) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]


def wheelhouse(wheel_file: Path) -> Path:
    """The folder of the wheels of wheel_file's dependencies (not of itself), downloaded the first time."""
    key = hashlib.sha256()
    for part in ((REPO / "requirements.txt").read_text(), *requires(wheel_file), sys.version, platform.machine()):
        key.update(part.encode() + b"\0")
    house = CACHE / key.hexdigest()[:16]
    if house.is_dir():
        return house
    house.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=house.parent, prefix=".download-"))
    try:
        constraints = str(REPO / "requirements.txt")
        pip(
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--dest",
            str(scratch),
            "--constraint",
            constraints,
            str(wheel_file),
        )
        (scratch / wheel_file.name).unlink(missing_ok=True)
        scratch.rename(house)
    except OSError:
        if not house.is_dir():  # else another run made it first
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return house


def main() -> None:
    with tempfile.TemporaryDirectory() as work:
        for built in build.build_all(Path(work) / "dist", Path(work) / "stage").values():
            for file in built.files:
                if file.suffix == ".whl":
                    print(wheelhouse(file))


if __name__ == "__main__":
    main()
