"""Re-reading a mounted token file before each request, so that a long-lived client follows renewals.

The kubelet updates a Secret volume in place: it writes the new files in a fresh directory and swaps
the `..data` symlink that each file name points through. The Kubernetes Python client, given a
kubeconfig user with both `token` and `tokenFile`, uses `token` and never reads the file again; it
calls `Configuration.refresh_api_key_hook` before building the Authorization header of each request
(in `Configuration.get_api_key_with_prefix`). TokenFileRefresher is such a hook.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client

log = logging.getLogger(__name__)

#: The key of Configuration.api_key that the client's kubeconfig loader sets, with the "Bearer " prefix in the value.
API_KEY = "BearerToken"

_Stamp = tuple[int, int, int, int]  # device, inode, mtime (ns), size of the file the path resolves to


def read_token(path: Path) -> str:
    """The token in path, without surrounding whitespace. Raises OSError, or ValueError if it is empty."""
    try:
        token = path.read_bytes().decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ValueError("the file is not UTF-8 text") from None  # the error would quote the file's bytes
    if not token:
        raise ValueError("the file is empty")
    return token


@dataclass(frozen=True)
class _State:
    stamp: _Stamp | None
    token: str
    #: The last failure to read the file (logged once, until the file can be read again).
    failure: str | None = None


class TokenFileRefresher:
    """A Configuration.refresh_api_key_hook that sets the bearer token from a file, re-read when it changes.

    The file is re-read when its device, inode, modification time or size changes (a stat per request).
    If it cannot be read, the last token stays in use and a warning names the file (never the token).
    Safe to call from several threads: the state is replaced in one assignment.
    """

    def __init__(self, path: Path, token: str, stamp: _Stamp | None = None) -> None:
        self.path = path
        self._state = _State(stamp, token)

    @classmethod
    def from_file(cls, path: Path, fallback: str | None) -> "TokenFileRefresher":
        """A refresher with the token now in path, or fallback (e.g. the kubeconfig's embedded token) if the
        file cannot be read. Raises OSError or ValueError if neither gives a token."""
        try:
            stamp = _stamp(path)
            return cls(path, read_token(path), stamp)
        except (OSError, ValueError):
            if not fallback:
                raise
            return cls(path, fallback)

    @property
    def token(self) -> str:
        return self._state.token

    def __call__(self, configuration: client.Configuration) -> None:
        self._refresh()
        configuration.api_key[API_KEY] = f"Bearer {self._state.token}"
        configuration.api_key_prefix.pop(API_KEY, None)

    def _refresh(self) -> None:
        state = self._state
        try:
            stamp = _stamp(self.path)
            if stamp == state.stamp:
                return
            token = read_token(self.path)
        except (OSError, ValueError) as err:
            failure = f"{type(err).__name__}: {getattr(err, 'strerror', None) or err}"
            if failure != state.failure:
                log.warning("cannot read token file %s (%s); using the last token read", self.path, failure)
            self._state = _State(state.stamp, state.token, failure)
            return
        self._state = _State(stamp, token)


def _stamp(path: Path) -> _Stamp:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
