"""Service account imports mounted in a pod: MOUNT_ROOT/<import name>/ with config, token, ca.crt, namespace, server.

Each import's configuration is what the Kubernetes client loads from the mounted kubeconfig, plus a
refresh hook that re-reads the kubeconfig's `tokenFile` (the mounted `token`) when it changes: the
client alone would keep the embedded token, which expires after a renewal.
"""

import os
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from kubernetes import config as k8s_config

from . import contract
from .errors import ConfigError, InvalidImportError, NotMountedError, SeveralImportsMountedError
from .kubeconfig import ConfigAndNamespace, namespace_or_default, yaml_problem
from .token_file import TokenFileRefresher

PathLike = str | os.PathLike[str]


def mount_root(root: PathLike | None = None) -> Path:
    """root, else $MCSA_SERVICE_ACCOUNT_IMPORTS_ROOT, else /var/run/secrets/admiralty.io/serviceaccountimports."""
    if root is not None and str(root):
        return Path(root)
    return Path(os.environ.get(contract.ROOT_ENV) or contract.MOUNT_ROOT)


def import_names(root: Path) -> list[str]:
    """The names of the imports mounted under root, sorted: its sub-directories (none if root does not exist)."""
    try:
        entries = sorted(root.iterdir())
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise ConfigError(
            f"the service account imports root {root} is not a directory; point {contract.ROOT_ENV} at a directory"
        ) from None
    except OSError as err:
        raise ConfigError(f"cannot list the service account imports under {root}: {err.strerror}") from None
    # Hidden entries (such as a volume's ..data) are never imports: import names are DNS-1123 subdomains.
    return [entry.name for entry in entries if not entry.name.startswith(".") and entry.is_dir()]


def _mounted(names: list[str], root: Path) -> str:
    return f"mounted under {root}: {', '.join(names)}" if names else f"none is mounted under {root}"


def how_to_mount(name: str) -> str:
    return (
        f"annotate the pod with {contract.IMPORT_NAME_KEY}: {name}, in a namespace labelled "
        f"{contract.NAMESPACE_OPT_IN_LABEL}={contract.NAMESPACE_OPT_IN_VALUE} that holds the ServiceAccountImport, "
        f"or set {contract.ROOT_ENV} to a folder of mounted imports"
    )


def single_name(root: Path) -> str:
    """The name of the one import mounted under root; NotMountedError or SeveralImportsMountedError otherwise."""
    names = import_names(root)
    if not names:
        raise NotMountedError(f"no service account import is mounted under {root}: {how_to_mount('<import name>')}")
    if len(names) > 1:
        raise SeveralImportsMountedError(
            f"{len(names)} service account imports are mounted under {root} ({', '.join(names)}): pick one, e.g. "
            f"config_and_namespace({names[0]!r}) or named_service_account_import_config_and_namespace({names[0]!r})"
        )
    return names[0]


def load_import(name: str, root: Path) -> ConfigAndNamespace:
    """The configuration and namespace of the import mounted as root/name."""
    if not name or name in (".", "..") or "/" in name or "\0" in name or os.sep in name:
        raise NotMountedError(
            f"{name!r} cannot be the name of a mounted service account import: names are directory names under {root}"
        )
    directory = root / name
    if not directory.is_dir():
        names = import_names(root)
        raise NotMountedError(
            f"service account import {name!r} is not mounted: no directory {directory} ({_mounted(names, root)}); "
            + how_to_mount(name)
        )
    return _load(name, directory)


def _invalid(name: str, directory: Path, reason: str) -> InvalidImportError:
    return InvalidImportError(
        f"service account import {name!r} mounted at {directory} is unusable: {reason}. It should be the Secret of "
        f"the ServiceAccountImport {name!r} (keys config, token, ca.crt, namespace, server); "
        f"see `kubectl describe serviceaccountimport {name}` in the pod's namespace"
    )


def _load(name: str, directory: Path) -> ConfigAndNamespace:
    path = directory / contract.CONFIG_KEY
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        found = ", ".join(sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))) or "nothing"
        raise _invalid(name, directory, f"it has no {contract.CONFIG_KEY} file (found: {found})") from None
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise _invalid(name, directory, f"cannot read {path} ({reason})") from None
    context, user = _current(name, directory, path, text)
    refresher = _token_refresher(name, directory, path, user)
    configuration = client.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(path), client_configuration=configuration, persist_config=False
        )
    except yaml.YAMLError as err:  # parsed above, unless the file changed in between
        raise _invalid(name, directory, f"{path} is {yaml_problem(err)}") from None
    except (k8s_config.ConfigException, OSError, ValueError) as err:
        raise _invalid(name, directory, f"the Kubernetes client cannot load {path}: {err}") from None
    if refresher is not None:
        # Replaces the loader's hook, which only re-sets the embedded token. (The client types the attribute None.)
        configuration.refresh_api_key_hook = refresher  # type: ignore[assignment]
        refresher(configuration)
    return ConfigAndNamespace(configuration, namespace_or_default(context.get("namespace")))


def _current(name: str, directory: Path, path: Path, text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The current context and its user, or InvalidImportError naming (never quoting) what is wrong."""
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise _invalid(name, directory, f"{path} is {yaml_problem(err)}") from None
    if not isinstance(config, dict):
        raise _invalid(name, directory, f"{path} is not a kubeconfig (expected a YAML mapping)")
    current = config.get("current-context")
    if not current:
        raise _invalid(name, directory, f"{path} has no current-context")
    context = _named(config, "contexts", current)
    if context is None:
        raise _invalid(name, directory, f"{path} has no context {current!r} (its current-context)")
    cluster = _named(config, "clusters", context.get("cluster"))
    if cluster is None:
        raise _invalid(name, directory, f"{path} has no cluster {context.get('cluster')!r} (of context {current!r})")
    if not cluster.get("server") or not isinstance(cluster["server"], str):
        raise _invalid(name, directory, f"the cluster {context.get('cluster')!r} of {path} has no server")
    user = _named(config, "users", context.get("user"))
    if user is None:
        raise _invalid(name, directory, f"{path} has no user {context.get('user')!r} (of context {current!r})")
    return context, user


def _named(config: dict[str, Any], section: str, name: object) -> dict[str, Any] | None:
    for item in config.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name and isinstance(item.get(section[:-1]), dict):
            body: dict[str, Any] = item[section[:-1]]
            return body
    return None


def _token_refresher(name: str, directory: Path, path: Path, user: dict[str, Any]) -> TokenFileRefresher | None:
    """A hook re-reading the user's tokenFile (relative to the kubeconfig), or None if it names none."""
    token_file = user.get("tokenFile")
    if not token_file:
        return None
    if not isinstance(token_file, str):
        raise _invalid(name, directory, f"the tokenFile of {path} is not a string")
    embedded = user.get("token")
    try:
        return TokenFileRefresher.from_file(directory / token_file, embedded if isinstance(embedded, str) else None)
    except (OSError, ValueError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise _invalid(
            name, directory, f"its token file {directory / token_file} cannot be read ({reason}) and {path} embeds none"
        ) from None
