"""A directory written as the kubelet writes a Secret volume (pkg/volume/util/atomic_writer.go)."""

import tempfile
import time
from pathlib import Path


def kubelet_write(directory: Path, files: dict[str, bytes]) -> None:
    """Write files in directory as the kubelet's atomic writer does for a Secret volume: each name is a symlink
    into `..data`, itself a symlink to a timestamped folder that an update replaces in one rename."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "..data"
    old = data.resolve() if data.is_symlink() else None
    fresh = Path(tempfile.mkdtemp(prefix=time.strftime("..%Y_%m_%d_%H_%M_%S."), dir=directory))
    fresh.chmod(0o755)
    for key, value in files.items():
        (fresh / key).write_bytes(value)
        (fresh / key).chmod(0o644)
    staging = directory / "..data_tmp"
    staging.symlink_to(fresh.name)
    staging.replace(data)
    for key in files:
        if not (directory / key).is_symlink():
            (directory / key).symlink_to(f"..data/{key}")
    for path in directory.iterdir():
        if not path.name.startswith(".") and path.name not in files:
            path.unlink()
    if old is not None:
        for path in old.iterdir():
            path.unlink()
        old.rmdir()
