"""The library for mounted imports (multicluster_service_account), on temporary mount folders.

Imports are written as the kubelet writes a Secret volume (files behind a `..data` symlink that an
update swaps), from the same Secret data the sync hook builds.
"""

import base64
import importlib.util
import json
import logging
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.config import incluster_config

import multicluster_service_account as mcsa
from hooks import contract as hooks_contract
from hooks.kubeconfig import ClusterEndpoint, imported_secret_data
from multicluster_service_account import contract, token_file
from tests.testbed.secret_volume import kubelet_write

from .fakes import serving

REPO = Path(__file__).parents[2]
CA = b"-----BEGIN CERTIFICATE-----\nnot a real CA\n-----END CERTIFICATE-----\n"
TOKEN = "token-a-0123456789"  # fake tokens; the tests check that none appears in a message


# -- the mount, as the kubelet writes it --------------------------------------------------------------


def secret_files(
    name: str, server: str = "https://127.0.0.1:6443", namespace: str = "team-a", token: str = TOKEN
) -> dict[str, bytes]:
    """The files of an imported Secret, built by the sync hook's own code."""
    data = imported_secret_data(name, ClusterEndpoint(server=server, ca_pem=CA), namespace, token)
    return {key: base64.b64decode(value) for key, value in data.items()}


def mount_import(root: Path, name: str, **kwargs: Any) -> Path:
    kubelet_write(root / name, secret_files(name, **kwargs))
    return root / name


def kubeconfig_file(path: Path, contexts: dict[str, str | None], current: str | None) -> Path:
    """A kubeconfig with one context per name (value: its namespace), each with its own server and token."""
    config: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": n, "cluster": {"server": f"https://{n}.example:6443"}} for n in contexts],
        "users": [{"name": n, "user": {"token": f"token-of-{n}"}} for n in contexts],
        "contexts": [
            {"name": n, "context": {"cluster": n, "user": n, **({"namespace": ns} if ns else {})}}
            for n, ns in contexts.items()
        ],
    }
    if current:
        config["current-context"] = current
    path.write_text(yaml.safe_dump(config))
    return path


def bearer(configuration: client.Configuration) -> str | None:
    """The Authorization header the client would send (it calls the refresh hook first)."""
    return configuration.get_api_key_with_prefix("BearerToken")


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No mount root, no kubeconfig and no pod around the tests unless they make one."""
    monkeypatch.delenv(contract.ROOT_ENV, raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "serviceaccountimports"


# -- contract and names -------------------------------------------------------------------------------


def test_contract_strings_are_the_hooks_ones() -> None:
    assert contract.MOUNT_ROOT == hooks_contract.MOUNT_ROOT == mcsa.MOUNT_ROOT
    assert contract.CONFIG_KEY == hooks_contract.CONFIG_KEY
    assert contract.IMPORT_NAME_KEY == hooks_contract.IMPORT_NAME_KEY
    assert contract.NAMESPACE_OPT_IN_LABEL == hooks_contract.NAMESPACE_OPT_IN_LABEL
    assert contract.NAMESPACE_OPT_IN_VALUE == hooks_contract.NAMESPACE_OPT_IN_VALUE
    assert set(secret_files("x")) == {"config", "exec-config", "token", "ca.crt", "namespace", "server"}


def test_names_zero_one_several(root: Path) -> None:
    assert mcsa.service_account_import_names(root=root) == []  # no root at all
    root.mkdir()
    assert mcsa.service_account_import_names(root=root) == []
    mount_import(root, "c2-team-b")
    assert mcsa.service_account_import_names(root=root) == ["c2-team-b"]
    mount_import(root, "c2-team-a")
    (root / "stray-file").write_text("")
    (root / "..hidden").mkdir()
    assert mcsa.service_account_import_names(root=root) == ["c2-team-a", "c2-team-b"]


def test_root_from_the_environment_and_the_argument(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount_import(root, "from-env")
    mount_import(tmp_path / "other", "from-argument")
    monkeypatch.setenv(contract.ROOT_ENV, str(root))
    assert mcsa.service_account_import_names() == ["from-env"]
    assert mcsa.service_account_import_names(root=tmp_path / "other") == ["from-argument"]
    monkeypatch.setenv(contract.ROOT_ENV, "")
    assert mcsa.service_account_import_names() == mcsa.service_account_import_names(root=contract.MOUNT_ROOT)


def test_a_root_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(mcsa.ConfigError, match=f"{tmp_path / 'file'} is not a directory"):
        mcsa.service_account_import_names(root=tmp_path / "file")


# -- one, none, several -------------------------------------------------------------------------------


def test_one_import(root: Path) -> None:
    mount_import(root, "c2-team-a", server="https://cluster2.example:6443", namespace="team-a")
    configuration, namespace = mcsa.service_account_import_config_and_namespace(root=root)
    assert (configuration.host, namespace) == ("https://cluster2.example:6443", "team-a")
    assert bearer(configuration) == f"Bearer {TOKEN}"
    assert Path(configuration.ssl_ca_cert).read_bytes() == CA
    # A fresh configuration: the client's default is left alone.
    assert configuration is not client.Configuration.get_default()
    assert client.Configuration.get_default_copy().host != configuration.host
    assert mcsa.config_and_namespace(root=root).configuration.host == configuration.host


def test_no_import(root: Path) -> None:
    with pytest.raises(mcsa.NotMountedError) as caught:
        mcsa.service_account_import_config_and_namespace(root=root)
    message = str(caught.value)
    assert f"no service account import is mounted under {root}" in message
    assert "multicluster.admiralty.io/service-account-import.name" in message and contract.ROOT_ENV in message


def test_several_imports_must_be_picked_even_with_a_kubeconfig(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount_import(root, "c2-team-a")
    mount_import(root, "c2-team-b", namespace="team-b")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig_file(tmp_path / "kubeconfig", {"laptop": None}, "laptop")))
    for call in (mcsa.service_account_import_config_and_namespace, mcsa.config_and_namespace):
        with pytest.raises(mcsa.SeveralImportsMountedError) as caught:
            call(root=root)
        assert "2 service account imports are mounted" in str(caught.value)
        assert "(c2-team-a, c2-team-b): pick one" in str(caught.value)
        assert "config_and_namespace('c2-team-a')" in str(caught.value)
    assert mcsa.config_and_namespace("c2-team-b", root=root).namespace == "team-b"
    assert mcsa.named_service_account_import_config_and_namespace("c2-team-b", root=root).namespace == "team-b"
    every = mcsa.all_service_account_import_configs_and_namespaces(root=root)
    assert {name: ns for name, (_, ns) in every.items()} == {"c2-team-a": "team-a", "c2-team-b": "team-b"}
    assert isinstance(every["c2-team-a"], mcsa.ConfigAndNamespace)


def test_named_import_not_mounted(root: Path) -> None:
    mount_import(root, "c2-team-a")
    with pytest.raises(mcsa.NotMountedError) as caught:
        mcsa.named_service_account_import_config_and_namespace("c2-team-z", root=root)
    message = str(caught.value)
    assert f"'c2-team-z' is not mounted: no directory {root / 'c2-team-z'} (mounted under {root}: c2-team-a)" in message
    assert "service-account-import.name: c2-team-z" in message


@pytest.mark.parametrize("name", ["", ".", "..", "../c2-team-a", "a/b"])
def test_names_that_cannot_be_imports(root: Path, name: str) -> None:
    mount_import(root, "c2-team-a")
    with pytest.raises(mcsa.NotMountedError, match="cannot be the name of a mounted service account import"):
        mcsa.named_service_account_import_config_and_namespace(name, root=root)


# -- bad files ----------------------------------------------------------------------------------------


def _rewrite_config(directory: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    config = yaml.safe_load((directory / "config").read_text())
    edit(config)
    files = {p.name: p.read_bytes() for p in directory.iterdir() if not p.name.startswith(".")}
    files["config"] = yaml.safe_dump(config).encode()
    kubelet_write(directory, files)


def _without_embedded_token(directory: Path, token_file: str | None) -> None:
    """The kubeconfig's user without its token; the token file absent (None) or with the given content."""
    _rewrite_config(directory, lambda c: c["users"][0]["user"].pop("token"))
    if token_file is None:
        (directory / "..data" / "token").unlink()
    else:
        (directory / "..data" / "token").write_text(token_file)


BAD_CONFIGS: dict[str, tuple[Callable[[Path], object], str]] = {
    "no config": (lambda d: kubelet_write(d, {"token": TOKEN.encode()}), "has no config file (found: token)"),
    "not YAML": (
        lambda d: kubelet_write(d, {"config": f"users: [{TOKEN}\n  : :".encode()}),
        "is not valid YAML at line",
    ),
    "not a mapping": (lambda d: kubelet_write(d, {"config": f"- {TOKEN}\n".encode()}), "not a kubeconfig"),
    "no current context": (lambda d: _rewrite_config(d, lambda c: c.pop("current-context")), "has no current-context"),
    "no context": (lambda d: _rewrite_config(d, lambda c: c.update(contexts=[])), "has no context 'imp'"),
    "no cluster": (lambda d: _rewrite_config(d, lambda c: c.update(clusters=[])), "has no cluster 'imp'"),
    "no user": (lambda d: _rewrite_config(d, lambda c: c.update(users=None)), "has no user 'imp'"),
    "no token at all": (
        lambda d: _without_embedded_token(d, None),
        "its token file {d}/token cannot be read (No such file or directory) and {d}/config embeds none",
    ),
    "empty token file, no embedded token": (
        lambda d: _without_embedded_token(d, "\n"),
        "cannot be read (the file is empty)",
    ),
    "cluster without server": (
        lambda d: _rewrite_config(d, lambda c: c["clusters"][0]["cluster"].pop("server")),
        "the cluster 'imp' of {d}/config has no server",
    ),
    "CA data not base64": (
        lambda d: _rewrite_config(
            d, lambda c: c["clusters"][0]["cluster"].update({"certificate-authority-data": "abcde"})
        ),
        "the Kubernetes client cannot load {d}/config: ",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_files_say_which_import_which_path_and_what(root: Path, case: str) -> None:
    directory = mount_import(root, "imp")
    spoil, expected = BAD_CONFIGS[case]
    spoil(directory)
    with pytest.raises(mcsa.InvalidImportError) as caught:
        mcsa.named_service_account_import_config_and_namespace("imp", root=root)
    message = str(caught.value)
    assert message.startswith(f"service account import 'imp' mounted at {directory} is unusable: ")
    assert expected.format(d=directory) in message
    assert "kubectl describe serviceaccountimport imp" in message
    assert TOKEN not in message
    # The generic functions do not hide a broken import behind a fallback.
    with pytest.raises(mcsa.InvalidImportError):
        mcsa.config_and_namespace(root=root)
    with pytest.raises(mcsa.InvalidImportError):
        mcsa.all_named_configs_and_namespaces(root=root)


def test_without_token_file_the_embedded_token_is_used_and_the_file_is_watched(root: Path) -> None:
    directory = mount_import(root, "imp")
    (directory / "..data" / "token").unlink()
    configuration, _ = mcsa.named_service_account_import_config_and_namespace("imp", root=root)
    assert bearer(configuration) == f"Bearer {TOKEN}"
    (directory / "..data" / "token").write_text("token-b")
    assert bearer(configuration) == "Bearer token-b"


def test_a_kubeconfig_without_token_file_keeps_its_embedded_token(root: Path) -> None:
    directory = mount_import(root, "imp")
    _rewrite_config(directory, lambda c: c["users"][0]["user"].pop("tokenFile"))
    configuration, _ = mcsa.named_service_account_import_config_and_namespace("imp", root=root)
    (directory / "..data" / "token").write_text("token-b")
    assert bearer(configuration) == f"Bearer {TOKEN}"


# -- token rotation -----------------------------------------------------------------------------------


def test_the_token_file_is_re_read_when_the_kubelet_swaps_it(root: Path) -> None:
    directory = mount_import(root, "imp")
    configuration, _ = mcsa.named_service_account_import_config_and_namespace("imp", root=root)
    assert bearer(configuration) == f"Bearer {TOKEN}"
    kubelet_write(directory, secret_files("imp", token="token-b"))
    assert bearer(configuration) == "Bearer token-b"
    # Written in place (same inode), the new content is read too.
    (directory / "token").write_text("token-c-longer")
    assert bearer(configuration) == "Bearer token-c-longer"
    kubelet_write(directory, secret_files("imp"))
    assert bearer(configuration) == f"Bearer {TOKEN}"
    assert len(list(directory.glob("..2026*"))) == 1


def test_an_unreadable_token_file_keeps_the_last_token_and_warns_once(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = mount_import(root, "imp")
    configuration, _ = mcsa.named_service_account_import_config_and_namespace("imp", root=root)
    (directory / "..data" / "token").unlink()
    with caplog.at_level(logging.WARNING, logger=token_file.__name__):
        assert bearer(configuration) == f"Bearer {TOKEN}"
        assert bearer(configuration) == f"Bearer {TOKEN}"
        (directory / "..data" / "token").write_text("")
        assert bearer(configuration) == f"Bearer {TOKEN}"
        (directory / "..data" / "token").write_text("token-b")
        assert bearer(configuration) == "Bearer token-b"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    assert f"cannot read token file {directory / 'token'} (FileNotFoundError: No such file or directory)" in warnings[0]
    assert "the file is empty" in warnings[1]
    assert not any(TOKEN in w for w in warnings)


class _Recorder(BaseHTTPRequestHandler):
    """An API server that lists one pod and records the Authorization headers it receives."""

    seen: list[str | None]

    def do_GET(self) -> None:  # the http.server API
        self.seen.append(self.headers.get("Authorization"))
        body = json.dumps(
            {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [{"metadata": {"name": "nginx"}}]}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def api_server() -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []
    with serving(type("Handler", (_Recorder,), {"seen": seen})) as url:
        yield url, seen


def test_a_long_lived_client_sends_the_new_token_after_a_swap(
    root: Path, api_server: tuple[str, list[str | None]]
) -> None:
    url, seen = api_server
    directory = mount_import(root, "imp", server=url)
    configuration, namespace = mcsa.config_and_namespace(root=root)
    with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        assert [p.metadata.name for p in core.list_namespaced_pod(namespace).items] == ["nginx"]
        kubelet_write(directory, secret_files("imp", server=url, token="token-b"))
        core.list_namespaced_pod(namespace)
    assert seen == [f"Bearer {TOKEN}", "Bearer token-b"]


# -- fallbacks: kubeconfig contexts and the pod's own service account ---------------------------------


def test_no_import_falls_back_to_the_current_kubeconfig_context(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = kubeconfig_file(tmp_path / "kubeconfig", {"one": "ns-one", "two": None}, "one")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    configuration, namespace = mcsa.config_and_namespace(root=root)
    assert (configuration.host, namespace, bearer(configuration)) == (
        "https://one.example:6443",
        "ns-one",
        "Bearer token-of-one",
    )
    configuration, namespace = mcsa.config_and_namespace("two", root=root)
    assert (configuration.host, namespace) == ("https://two.example:6443", "default")
    # The argument wins over $KUBECONFIG; the context's own function does the same.
    other = kubeconfig_file(tmp_path / "other", {"three": None}, "three")
    assert mcsa.config_and_namespace(root=root, kubeconfig=other).configuration.host == "https://three.example:6443"
    assert mcsa.config_and_namespace_for_context("two").configuration.host == "https://two.example:6443"
    assert client.Configuration.get_default_copy().host != "https://two.example:6443"


def test_a_mounted_import_wins_over_a_context_of_the_same_name(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mount_import(root, "one", server="https://imported.example:6443")
    kubeconfig = kubeconfig_file(tmp_path / "kubeconfig", {"one": None, "two": None}, "two")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert mcsa.config_and_namespace("one", root=root).configuration.host == "https://imported.example:6443"
    assert mcsa.config_and_namespace(root=root).configuration.host == "https://imported.example:6443"
    every = mcsa.all_named_configs_and_namespaces(root=root)
    assert {n: c.host for n, (c, _) in every.items()} == {
        "one": "https://imported.example:6443",
        "two": "https://two.example:6443",
    }


def test_unknown_name_lists_imports_and_contexts(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount_import(root, "c2-team-a")
    kubeconfig = kubeconfig_file(tmp_path / "kubeconfig", {"laptop": None}, "laptop")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    with pytest.raises(mcsa.ConfigError) as caught:
        mcsa.config_and_namespace("nope", root=root)
    assert str(caught.value) == (
        f"no service account import or kubeconfig context is named 'nope': imports under {root}: 'c2-team-a'; "
        f"contexts in {kubeconfig}: 'laptop'"
    )
    with pytest.raises(
        mcsa.ConfigError, match=f"kubeconfig {kubeconfig} has no context 'nope'; its contexts: 'laptop'"
    ):
        mcsa.config_and_namespace_for_context("nope")


def test_a_broken_kubeconfig_says_where(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "kubeconfig").write_text("users: [token-x\n  : :")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    with pytest.raises(
        mcsa.ConfigError, match=f"cannot read kubeconfig {tmp_path / 'kubeconfig'}: not valid YAML at line"
    ):
        mcsa.config_and_namespace(root=root)
    kubeconfig_file(tmp_path / "kubeconfig", {"a": None}, None)
    with pytest.raises(mcsa.ConfigError, match="has no current-context: name a context \\('a'\\)"):
        mcsa.config_and_namespace(root=root)


def test_in_a_pod_without_import_nor_kubeconfig_the_pods_own_service_account(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("own-token")
    (account / "ca.crt").write_bytes(CA)
    (account / "namespace").write_text("my-namespace")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    configuration, namespace = mcsa.config_and_namespace(root=root)
    assert (configuration.host, namespace) == ("https://10.0.0.1:443", "my-namespace")
    assert bearer(configuration) == "bearer own-token"
    monkeypatch.setenv("POD_NAMESPACE", "from-env")
    assert mcsa.config_and_namespace(root=root).namespace == "from-env"
    (account / "token").unlink()
    with pytest.raises(mcsa.ConfigError, match="cannot load the in-cluster configuration"):
        mcsa.config_and_namespace(root=root)


def test_nothing_at_all(root: Path, tmp_path: Path) -> None:
    with pytest.raises(mcsa.ConfigError) as caught:
        mcsa.config_and_namespace(root=root)
    message = str(caught.value)
    assert f"no service account import is mounted under {root}" in message
    assert f"no kubeconfig file exists at {tmp_path / 'no-kubeconfig'}" in message
    assert "KUBERNETES_SERVICE_HOST is not set" in message
    assert mcsa.all_named_configs_and_namespaces(root=root) == {}


def test_configurations_can_be_copied(root: Path) -> None:
    import copy

    directory = mount_import(root, "imp")
    configuration, _ = mcsa.config_and_namespace(root=root)
    copied = copy.deepcopy(configuration)
    kubelet_write(directory, secret_files("imp", token="token-b"))
    assert bearer(copied) == bearer(configuration) == "Bearer token-b"


# -- the examples, in process -------------------------------------------------------------------------


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"example_{name.replace('-', '_')}", REPO / "examples" / name / "main.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["multicluster-client", "generic-client"])
def test_examples_list_pods_through_the_import(
    name: str,
    root: Path,
    api_server: tuple[str, list[str | None]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, seen = api_server
    mount_import(root, "c2-team-a", server=url)
    monkeypatch.setenv(contract.ROOT_ENV, str(root))
    assert example(name).main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-4:] == [f"API server URL: {url}", "Namespace: team-a", "Listing pods...", "nginx"]
    assert seen == [f"Bearer {TOKEN}"]


@pytest.mark.parametrize("name", ["multicluster-client", "generic-client"])
def test_examples_say_what_is_wrong(
    name: str, root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(contract.ROOT_ENV, str(root))
    assert example(name).main([]) == 1
    assert capsys.readouterr().err.startswith("error: no ")
    mount_import(root, "a")
    mount_import(root, "b")
    assert example(name).main([]) == 1
    assert "pick one" in capsys.readouterr().err
