"""Reading kubeconfig files for kubemcsa, as kubectl reads them, and loading a context of them into the Kubernetes
client's configuration: every failure a KubeconfigProblem, in words that never quote the files."""

import logging
import os
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from kubernetes import client as k8s
from kubernetes.config import ConfigException
from kubernetes.config.kube_config import ConfigNode, KubeConfigLoader

from . import kubeconfig_check as check
from .answers import MALFORMED
from .kubeconfig_check import KubeconfigProblem, Selected, quoted

#: PyYAML's safe loader, in C when libyaml is there (a kubeconfig of megabytes takes seconds in Python).
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Configuration(k8s.Configuration):
    """The client's configuration, whose token is trimmed as client-go trims it (a token file often ends with a
    line break, which HTTP refuses in a header), also when the client loads it again (an exec plugin's token, once
    expired)."""

    def get_api_key_with_prefix(self, identifier: str, alias: str | None = None) -> str | None:
        key = super().get_api_key_with_prefix(identifier, alias)
        return key.strip() if isinstance(key, str) else key


def locate(kubeconfig: Path | None) -> tuple[list[str], str]:
    """The kubeconfig files to read (kubeconfig, else $KUBECONFIG, else ~/.kube/config), and how to name them."""
    if kubeconfig:
        return [str(kubeconfig)], f"kubeconfig {kubeconfig}"
    value = os.environ.get("KUBECONFIG", "")
    paths = [p for p in value.split(os.pathsep) if p]
    if paths:
        return paths, f"kubeconfig {value} ($KUBECONFIG)"
    return ["~/.kube/config"], "kubeconfig ~/.kube/config"


def read(path: str) -> object:
    """One kubeconfig file, parsed; KubeconfigProblem if it cannot be."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise KubeconfigProblem("it does not exist") from None
    except IsADirectoryError:
        raise KubeconfigProblem("it is a directory, not a file") from None
    except OSError as err:
        raise KubeconfigProblem(f"{(err.strerror or type(err).__name__).lower()}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KubeconfigProblem("it is not UTF-8 text") from None
    try:
        config = yaml.load(text, Loader=SafeLoader)  # noqa: S506 (a safe loader, libyaml's when there is one)
    except yaml.YAMLError as err:  # its message quotes the file: only where the problem is
        mark = getattr(err, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise KubeconfigProblem(f"it is not valid YAML{line}") from None
    except RecursionError:
        raise KubeconfigProblem("it is not valid YAML (nested too deep)") from None
    if config is None:
        raise KubeconfigProblem("it is empty")
    return config


def merged(documents: list[tuple[str, Mapping[str, Any], dict[str, list[Mapping[str, object]]]]]) -> ConfigNode:
    """The kubeconfig files as one, as kubectl merges them (the first file to name an entry or the current context
    wins), as the Kubernetes client's loader takes it: entries remember their file (relative paths are relative to
    it), and are named by position, never by content (the loader quotes the names of the entries in its errors)."""
    merged: dict[str, Any] = {section: [] for section in check.SECTIONS}
    for path, config, found in documents:
        if "current-context" not in merged and config.get("current-context"):
            merged["current-context"] = config["current-context"]
        for section in check.SECTIONS:
            earlier = {node.value["name"] for node in merged[section] if node.path != path}
            for index, entry in enumerate(found[section]):
                if entry["name"] not in earlier:
                    merged[section].append(_node(f"{path}: {section}[{index}]", entry, path))
    return _node(documents[0][0], merged, documents[0][0])


def _node(name: str, value: object, path: str) -> ConfigNode:
    """A node of the Kubernetes client's kubeconfig tree: name (in its errors), value, and the file it is from."""
    return ConfigNode(name, value, path)  # type: ignore[no-untyped-call]


@contextmanager
def client_errors() -> Iterator[list[str]]:
    """The errors the Kubernetes client's kubeconfig loader logs (it logs, and does not raise, the failures of an
    exec credential plugin), kept from stderr."""
    logged: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and "kubernetes" in record.pathname:
                logged.append(record.getMessage())

    root = logging.getLogger()
    keep = Keep()
    root.addHandler(keep)
    try:
        yield logged
    finally:
        root.removeHandler(keep)


def load(node: ConfigNode, selected: Selected) -> Configuration:
    """A client configuration for the selected context; KubeconfigProblem if the client cannot load it."""
    configuration = Configuration()
    with client_errors() as logged:
        try:
            # Relative paths are relative to the file that names them (config_base_path None).
            loader = KubeConfigLoader(  # type: ignore[no-untyped-call]
                config_dict=node, config_base_path=None, active_context=selected.context
            )
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
        except ConfigException as err:
            missing = str(err).removeprefix("File does not exist: ")
            if missing != str(err):
                raise KubeconfigProblem(f"a file it names is missing, or not a file: {missing}") from None
            raise KubeconfigProblem(f"the Kubernetes client cannot load it ({type(err).__name__})") from None
        except OSError as err:
            reason = (err.strerror or type(err).__name__).lower()
            if err.filename:
                raise KubeconfigProblem(f"cannot read {err.filename}, which it names: {reason}") from None
            raise KubeconfigProblem(f"the Kubernetes client cannot load it ({reason})") from None
        except UnicodeDecodeError:
            raise KubeconfigProblem("a file it names (a tokenFile?) is not UTF-8 text") from None
        except MALFORMED as err:
            raise KubeconfigProblem(f"the Kubernetes client cannot load it ({type(err).__name__})") from None
    user = f"user {quoted(selected.user)}"
    if selected.plugin and logged:
        meaning, hint = check.exec_failure(logged[0])
        raise KubeconfigProblem(f"the credential plugin {quoted(selected.plugin)} of {user} {meaning}", hint=hint)
    if problem := check.header_problem(configuration.get_api_key_with_prefix("BearerToken")):
        source = f"the credential plugin {quoted(selected.plugin)} printed" if selected.plugin else f"of {user}"
        raise KubeconfigProblem(f"the token {source} {problem}")
    if configuration.verify_ssl and configuration.ssl_ca_cert:
        try:
            x509.load_pem_x509_certificates(Path(configuration.ssl_ca_cert).read_bytes())
        except (OSError, ValueError):
            raise KubeconfigProblem(
                f"the certificate-authority of cluster {quoted(selected.cluster)} is not a PEM certificate"
            ) from None
    if configuration.cert_file or configuration.key_file:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(
                configuration.cert_file or "", configuration.key_file, password=lambda: b""
            )
        except (OSError, ValueError, TypeError):
            raise KubeconfigProblem(
                f"the client certificate and key of {user} cannot be used (not PEM, encrypted, or not a pair)"
            ) from None
    return configuration
