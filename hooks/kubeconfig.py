"""Pure builders and readers of kubeconfig files and of the Secrets that carry them.

Reused by the sync hook (imported Secrets) and by kubemcsa (cluster credential Secrets).
"""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import yaml

from . import contract
from .wire import Obj

#: libyaml's safe loader and dumper when PyYAML has them (its wheels do): 10 to 20 times faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class KubeconfigError(ValueError):
    """A kubeconfig that cannot be used; the message never quotes its content."""


@dataclass(frozen=True)
class ClusterEndpoint:
    """Where a cluster's API is, and the CA that signs its serving certificate (PEM, may be empty)."""

    server: str
    ca_pem: bytes


def token_user(token: str, token_file: str | None) -> Obj:
    """A kubeconfig user with token, and with token_file if given: client-go and kubectl read the file (a relative
    path is relative to the kubeconfig) and re-read it as it changes; most other clients use the token alone."""
    user: Obj = {"token": token}
    if token_file:
        user["tokenFile"] = token_file
    return user


def exec_user(token_file: str) -> Obj:
    """A kubeconfig user that runs the credential plugin on token_file (an absolute path: clients run plugins
    from their own working directory). Clients run it again when the credential it returned expires, so
    they follow the token as the file changes; it holds no token itself, so that no client prefers one."""
    return {
        "exec": {
            "apiVersion": contract.EXEC_CREDENTIAL_API_VERSION,
            "command": contract.CREDENTIAL_PLUGIN,
            "args": ["--token-file", token_file],
            "interactiveMode": "Never",
        }
    }


def build_kubeconfig(name: str, endpoint: ClusterEndpoint, namespace: str, user: Obj) -> str:
    """A kubeconfig with one cluster, one user and one context, all named name, as YAML."""
    cluster: dict[str, Any] = {"server": endpoint.server}
    if endpoint.ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(endpoint.ca_pem).decode()
    context: dict[str, Any] = {"cluster": name, "user": name}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": context}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.dump(config, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


def load_kubeconfig(text: str) -> Obj:
    """The parsed kubeconfig, or KubeconfigError if it is not a kubeconfig with a current context."""
    try:
        config = yaml.load(text, Loader=_LOADER)  # noqa: S506 (a safe loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise KubeconfigError(f"not valid YAML{where}") from None
    if not isinstance(config, dict):
        raise KubeconfigError("not a kubeconfig (expected a YAML mapping)")
    current_cluster_and_user(config)
    return config


def _named(config: Obj, section: str, name: object) -> Obj:
    for item in config.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            body = item.get(section[:-1])
            if isinstance(body, dict):
                return body
    raise KubeconfigError(f"{section[:-1]} {name!r} of the current context is not defined in {section}")


def current_cluster_and_user(config: Obj) -> tuple[Obj, Obj]:
    current = config.get("current-context")
    if not current:
        raise KubeconfigError("current-context is not set")
    context = _named(config, "contexts", current)
    return _named(config, "clusters", context.get("cluster")), _named(config, "users", context.get("user"))


def endpoint(config: Obj) -> ClusterEndpoint:
    """Server and CA of the current context's cluster; the CA must be embedded, not a file path."""
    cluster, _ = current_cluster_and_user(config)
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise KubeconfigError("the current context's cluster has no https:// server URL")
    if "@" in server.removeprefix("https://").split("/", 1)[0]:
        raise KubeconfigError("the server URL holds a user name or password; put the credentials in the user")
    if cluster.get("certificate-authority"):
        raise KubeconfigError(
            "the cluster's CA is a file path (certificate-authority); embed it as certificate-authority-data"
        )
    ca_data = cluster.get("certificate-authority-data") or ""
    try:
        ca_pem = base64.b64decode(ca_data, validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError("certificate-authority-data is not valid base64") from None
    return ClusterEndpoint(server=server.rstrip("/"), ca_pem=ca_pem)


#: What a cluster credential may hold. Anything else (exec and auth-provider plugins, file paths,
#: proxies, basic auth, impersonation, skipping TLS verification) would let whoever writes a credential
#: Secret run commands in, or read files of, the hooks pod, or weaken TLS: it is refused.
CREDENTIAL_CLUSTER_KEYS = frozenset({"server", "certificate-authority-data", "tls-server-name"})
CREDENTIAL_USER_KEYS = frozenset({"token", "client-certificate-data", "client-key-data"})


def credential_kubeconfig(text: str) -> tuple[Obj, ClusterEndpoint]:
    """A cluster credential's kubeconfig, rebuilt with only its current context's allowed fields.

    Raises KubeconfigError naming (never quoting) what is refused or missing.
    """
    config = load_kubeconfig(text)
    cluster, user = current_cluster_and_user(config)
    refused = sorted({*(set(cluster) - CREDENTIAL_CLUSTER_KEYS), *(set(user) - CREDENTIAL_USER_KEYS)})
    if refused:
        raise KubeconfigError(
            f"it uses {', '.join(refused)}; a cluster credential may only hold a server, "
            "certificate-authority-data, and a token or client-certificate-data and client-key-data"
        )
    if not user.get("token") and not (user.get("client-certificate-data") and user.get("client-key-data")):
        raise KubeconfigError("its user has no token and no client-certificate-data and client-key-data")
    if not all(isinstance(v, str) for v in (*cluster.values(), *user.values())):
        raise KubeconfigError("its cluster and user fields must be strings")
    name = "credential"
    minimal = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": dict(cluster)}],
        "users": [{"name": name, "user": dict(user)}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return minimal, endpoint(minimal)


def encode_data(values: dict[str, str | bytes]) -> dict[str, str]:
    """Secret `data`: standard base64 on one line, the form the API server stores (so no diffs)."""
    return {
        key: base64.b64encode(value.encode() if isinstance(value, str) else value).decode()
        for key, value in values.items()
    }


def decode_data(secret: Obj, key: str) -> bytes | None:
    """One decoded value of a Secret's `data`, or None if it is absent or not base64."""
    data = secret.get("data")
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def imported_secret_data(import_name: str, endpoint: ClusterEndpoint, namespace: str, token: str) -> dict[str, str]:
    """The `data` of an imported Secret: the seed's kubeconfig and its parts, in the seed's keys, and the
    kubeconfig that runs the credential plugin on the token as mounted at the import's path in pods."""
    config = build_kubeconfig(import_name, endpoint, namespace, token_user(token, contract.TOKEN_KEY))
    mounted_token = f"{contract.MOUNT_ROOT}/{import_name}/{contract.TOKEN_KEY}"
    exec_config = build_kubeconfig(import_name, endpoint, namespace, exec_user(mounted_token))
    return encode_data(
        {
            contract.CONFIG_KEY: config,
            contract.EXEC_CONFIG_KEY: exec_config,
            contract.TOKEN_KEY: token,
            contract.CA_KEY: endpoint.ca_pem,
            contract.NAMESPACE_KEY: namespace,
            contract.SERVER_KEY: endpoint.server,
        }
    )
