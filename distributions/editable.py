"""The developers' kubemcsa: an editable wheel (as PEP 660's) that runs the checkout's bootstrap/ and hooks/.

It holds a .pth file naming the checkout (so the venv imports `hooks`, `bootstrap` and `tests` from it, as the
tests do) and the `kubemcsa` console script, so edits take effect without a rebuild. For a development venv
only: the release's kubemcsa wheel has neither name (build.py).
"""

import base64
import hashlib
from collections.abc import Mapping

from .spec import CLI, CLI_SCRIPT


def wheel_name(version: str) -> str:
    return f"{CLI}-{version}-py3-none-any.whl"


def editable_files(version: str, checkout: str) -> dict[str, bytes]:
    """The files of the editable wheel, by path in the wheel (RECORD last)."""
    info = f"{CLI}-{version}.dist-info"
    script, entry_point = CLI_SCRIPT
    files = {
        f"__editable__.{CLI}-{version}.pth": f"{checkout}\n".encode(),
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {CLI}\nVersion: {version}\n"
            f"Summary: kubemcsa, editable: runs the checkout at {checkout}\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: distributions.editable\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": f"[console_scripts]\n{script} = {entry_point}\n".encode(),
    }
    files[f"{info}/RECORD"] = record(files, f"{info}/RECORD")
    return files


def record(files: Mapping[str, bytes], path: str) -> bytes:
    """A wheel's RECORD of files (sha256 and size each), with its own line (no hash) at path."""
    lines = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files.items()]
    return ("\n".join([*lines, f"{path},,"]) + "\n").encode()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
