"""What is wrong in a kubeconfig, for the context kubemcsa uses, in one line that names the entry and field.

Pure: it reads the parsed YAML. The Kubernetes client's own errors may quote whole kubeconfig entries (tokens
and keys included), so kubemcsa checks first and quotes only names, capped and made printable.
"""

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from cryptography import x509

#: Names quoted in messages are cut to this many characters.
MAX_QUOTED = 80
#: At most this many context names are listed when the one asked for is missing.
MAX_LISTED = 10
SECTIONS: Final = ("clusters", "contexts", "users")
NOT_A_KUBECONFIG: Final = "it is not a kubeconfig (a mapping whose contexts list has a name and a context each)"


class KubeconfigProblem(Exception):
    """What is wrong, and the flag that can work around it ("context": another context; "kubeconfig": another
    file, or fix this one), or else what to do (hint)."""

    def __init__(self, message: str, flag: str = "kubeconfig", hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.flag = flag
        self.hint = hint


class MissingContext(KubeconfigProblem):
    """The context asked for (None: the current one, which the kubeconfig does not name) is not in the kubeconfig,
    whose contexts are known (quoted, listed)."""

    def __init__(self, name: str | None, known: str) -> None:
        what = f"context {name}" if name else "a current context"
        super().__init__(f"it has no {what} (contexts: {known})", "context")
        self.name = name
        self.known = known


def quoted(value: object) -> str:
    """value as a message quotes it: printable, capped, in double quotes."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > MAX_QUOTED:
        text = text[: MAX_QUOTED - 1] + "…"
    return f'"{text}"'


@dataclass(frozen=True)
class Selected:
    """The context kubemcsa uses, and the names of its cluster and user (None: no user, anonymous)."""

    context: str
    cluster: str
    user: str | None
    #: The command of the user's exec credential plugin, if it has one.
    plugin: str | None = None


def sections(config: object) -> dict[str, list[Mapping[str, object]]]:
    """The clusters, contexts and users lists of one kubeconfig file, each entry a mapping with a string name."""
    if not isinstance(config, Mapping):
        raise KubeconfigProblem(NOT_A_KUBECONFIG)
    found: dict[str, list[Mapping[str, object]]] = {}
    for section in SECTIONS:
        entries = config.get(section)
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise KubeconfigProblem(f"its {section} are not a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not entry["name"]:
                raise KubeconfigProblem(f"{section}[{index}] is not a mapping with a name")
        found[section] = entries
    current = config.get("current-context")
    if current is not None and not isinstance(current, str):
        raise KubeconfigProblem("its current-context is not a context name")
    return found


def _named(entries: Sequence[Mapping[str, object]], name: str, section: str) -> Mapping[str, object] | None:
    matches = [e for e in entries if e.get("name") == name]
    if len(matches) > 1:
        raise KubeconfigProblem(f"it has {len(matches)} {section} named {quoted(name)}")
    return matches[0] if matches else None


def _body(entry: Mapping[str, object], key: str, what: str) -> Mapping[str, object]:
    body = entry.get(key)
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise KubeconfigProblem(f"{what} is not a mapping")
    return body


def _strings(body: Mapping[str, object], keys: Sequence[str], what: str) -> None:
    for key in keys:
        if key in body and not isinstance(body[key], str):
            raise KubeconfigProblem(f"the {key} of {what} is not a string")


def _pem_data(body: Mapping[str, object], key: str, what: str, marker: str) -> None:
    """body[key], if set, is base64 of PEM with marker (e.g. "CERTIFICATE")."""
    if key not in body:
        return
    value = body[key]
    if not isinstance(value, str):
        raise KubeconfigProblem(f"the {key} of {what} is not a string")
    try:
        data = base64.standard_b64decode(value)
    except (binascii.Error, ValueError):
        raise KubeconfigProblem(f"the {key} of {what} is not base64") from None
    if f"-----BEGIN {marker}" not in data.decode("ascii", errors="replace") and not (
        marker == "PRIVATE KEY" and b"PRIVATE KEY-----" in data
    ):
        raise KubeconfigProblem(f"the {key} of {what} is not base64 of a PEM {marker.lower()}")
    if marker == "CERTIFICATE":
        try:
            x509.load_pem_x509_certificates(data)
        except ValueError:
            raise KubeconfigProblem(f"the {key} of {what} is not base64 of a PEM certificate") from None


def _check_cluster(cluster: Mapping[str, object], what: str) -> None:
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise KubeconfigProblem(f"{what} has no server URL")
    try:
        url = urlsplit(server)
        valid = url.scheme in ("https", "http") and bool(url.hostname) and (url.port is None or url.port > 0)
    except ValueError:
        valid = False
    if not valid or not server.isprintable() or " " in server:
        raise KubeconfigProblem(f"the server of {what} is not an https:// URL")
    if "@" in url.netloc:
        raise KubeconfigProblem(f"the server URL of {what} holds a user name or password: give them in the user")
    _strings(cluster, ("certificate-authority", "tls-server-name", "proxy-url"), what)
    if "insecure-skip-tls-verify" in cluster and not isinstance(cluster["insecure-skip-tls-verify"], bool):
        raise KubeconfigProblem(f"the insecure-skip-tls-verify of {what} is not true or false")
    _pem_data(cluster, "certificate-authority-data", what, "CERTIFICATE")


def _check_exec(plugin: object, what: str) -> str:
    """The command of an exec credential plugin."""
    if not isinstance(plugin, Mapping):
        raise KubeconfigProblem(f"the exec of {what} is not a mapping")
    command = plugin.get("command")
    if not isinstance(command, str) or not command.strip():
        raise KubeconfigProblem(f"the exec of {what} has no command")
    if not isinstance(plugin.get("apiVersion"), str):
        raise KubeconfigProblem(
            f"the exec of {what} has no apiVersion (e.g. client.authentication.k8s.io/v1)"
        )  # fmt: skip
    args = plugin.get("args")
    if args is not None and not (isinstance(args, list) and all(isinstance(a, str) for a in args)):
        raise KubeconfigProblem(f"the exec args of {what} are not a list of strings")
    env = plugin.get("env")
    if env is not None and not (
        isinstance(env, list)
        and all(isinstance(e, Mapping) and isinstance(e.get("name"), str) and isinstance(e.get("value"), str)
                for e in env)
    ):  # fmt: skip
        raise KubeconfigProblem(f"the exec env of {what} is not a list of names and values")
    return command


def _check_user(user: Mapping[str, object], what: str) -> str | None:
    """Check a user's fields; the command of its exec plugin, if any."""
    _strings(user, ("token", "tokenFile", "username", "password", "client-certificate", "client-key"), what)
    _pem_data(user, "client-certificate-data", what, "CERTIFICATE")
    _pem_data(user, "client-key-data", what, "PRIVATE KEY")
    has_cert = "client-certificate" in user or "client-certificate-data" in user
    has_key = "client-key" in user or "client-key-data" in user
    if has_cert != has_key:
        raise KubeconfigProblem(f"{what} has a client {'certificate' if has_cert else 'key'} without its pair")
    provider = user.get("auth-provider")
    if provider is not None and not (isinstance(provider, Mapping) and isinstance(provider.get("name"), str)):
        raise KubeconfigProblem(f"the auth-provider of {what} is not a mapping with a name")
    return _check_exec(user["exec"], what) if "exec" in user else None


def select(config: Mapping[str, object], found: dict[str, list[Mapping[str, object]]], wanted: str | None) -> Selected:
    """The context wanted (default: the current one) of a kubeconfig whose sections are found, checked with its
    cluster and user."""
    name = wanted or config.get("current-context")
    contexts = found["contexts"]
    known = ", ".join(quoted(c["name"]) for c in contexts[:MAX_LISTED]) or "none"
    known += f" and {len(contexts) - MAX_LISTED} more" if len(contexts) > MAX_LISTED else ""
    if not isinstance(name, str) or not name:
        raise MissingContext(None, known)
    context = _named(contexts, name, "contexts")
    if context is None:
        raise MissingContext(quoted(name), known)
    what = f"context {quoted(name)}"
    body = _body(context, "context", what)
    cluster_name = body.get("cluster")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise KubeconfigProblem(f"{what} names no cluster")
    cluster = _named(found["clusters"], cluster_name, "clusters")
    if cluster is None:
        raise KubeconfigProblem(f"{what} names cluster {quoted(cluster_name)}, which it does not define")
    cluster_what = f"cluster {quoted(cluster_name)}"
    _check_cluster(_body(cluster, "cluster", cluster_what), cluster_what)
    user_name = body.get("user")
    if user_name is None or user_name == "":
        return Selected(name, cluster_name, None)
    if not isinstance(user_name, str):
        raise KubeconfigProblem(f"the user of {what} is not a name")
    user = _named(found["users"], user_name, "users")
    if user is None:
        raise KubeconfigProblem(f"{what} names user {quoted(user_name)}, which it does not define")
    user_what = f"user {quoted(user_name)}"
    plugin = _check_user(_body(user, "user", user_what), user_what)
    return Selected(name, cluster_name, user_name, plugin)


def header_problem(authorization: str | None) -> str | None:
    """What is wrong with the Authorization header of a token (trimmed), if anything: HTTP clients refuse control
    characters and characters beyond Latin-1, and quote the whole header in their error."""
    if not authorization:
        return None
    token = authorization.removeprefix("Bearer ")
    if any(not c.isprintable() or ord(c) > 126 for c in token):
        return "holds a line break, a control character or a non-ASCII character"
    return None


#: The Kubernetes client logs (never raises) an exec plugin's failures; the start of each message, and its meaning.
EXEC_FAILURES: Final = (
    ("[Errno 2]", "is not found", "install it, or fix the exec command of the user in the kubeconfig"),
    ("[Errno 13]", "may not be run (permission denied)", "make it executable, or fix the exec command"),
    ("[Errno 8]", "is not a program this system runs", "fix the exec command of the user in the kubeconfig"),
    ("exec: process returned", "failed", "run it by hand to see why"),
    ("exec: failed to decode process output", "printed no JSON ExecCredential", "run it by hand to see what it prints"),
    ("exec: malformed response", "printed an ExecCredential without apiVersion, kind or status", "run it by hand"),
    ("exec: plugin api version", "answered in another apiVersion than the kubeconfig's exec apiVersion",
     "set the user's exec apiVersion to the one the plugin speaks"),
    ("exec: missing token or clientCertificateData", "printed an ExecCredential without a token", "run it by hand"),
    ("exec: missing clientKeyData", "printed a client certificate without its key", "run it by hand"),
)  # fmt: skip


def exec_failure(logged: str) -> tuple[str, str]:
    """(what happened to the plugin, what to do) for the message the Kubernetes client logged when an exec credential
    plugin failed; never quotes the message itself, which may hold what the plugin printed."""
    for start, meaning, hint in EXEC_FAILURES:
        if logged.startswith(start):
            if start == "exec: process returned":
                code = logged.removeprefix(start).strip().split(".", 1)[0].strip()
                meaning = f"failed (exit code {code})" if code.lstrip("-").isdigit() else meaning
            return meaning, hint
    return "gave no usable credential", "run it by hand to see why"
