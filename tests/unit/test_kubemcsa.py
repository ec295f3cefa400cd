"""kubemcsa's pure parts: flags, durations, and the objects it makes for an expiring importer token."""

import json
import ssl
from datetime import timedelta
from pathlib import Path

import pytest
import urllib3
import yaml
from kubernetes.client.exceptions import ApiException

from bootstrap import cli, doctor, export, importer, kube, kubeconfig_check, transport
from bootstrap.export import parse_duration
from bootstrap.kube import Cluster, CommandError
from hooks.model import Credential
from hooks.policy import Policy
from hooks.token import format_time

from .fakes import ENDPOINT, NOW


@pytest.mark.parametrize(("text", "seconds"), [("90d", 7776000), ("1d12h", 129600), ("10m", 600), ("3600s", 3600)])
def test_durations_take_days_too(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5m", "d", "1y", ""])
def test_bad_durations_say_how_to_write_them(text: str) -> None:
    with pytest.raises(CommandError):
        parse_duration(text)


def policy(*flags: str) -> Policy:
    return cli._policy(cli.build_parser().parse_args(["bootstrap", "c1", "c2", *flags]))


def test_allow_remote_namespace_opens_system_namespaces_only() -> None:
    rules = policy("--allow-remote-namespace", "kube-system", "--allow-remote-namespace", "kube-public")
    assert rules.allowed_remote_namespaces == {"kube-system", "kube-public"}
    with pytest.raises(CommandError) as err:
        policy("--allow-remote-namespace", "default")
    assert 'invalid --allow-remote-namespace "default"' in str(err.value) and "need no opening" in str(err.value)


@pytest.mark.parametrize("url", ["https://169.254.169.254", "https://[fd00:ec2::254]:443"])
def test_a_source_server_at_a_metadata_address_is_refused(url: str) -> None:
    with pytest.raises(CommandError) as err:
        cli._check_url(url, "--source-server")
    assert "the address is in" in str(err.value)


def test_an_expiring_importer_token_is_bound_to_an_anchor_secret() -> None:
    anchor = importer.credential_anchor("cluster1")
    assert anchor["type"] == importer.ANCHOR_TYPE
    assert anchor["metadata"]["generateName"] == "cluster1-credential-"
    assert anchor["metadata"]["labels"][importer.TARGET_CLUSTER_LABEL] == "cluster1"
    assert "data" not in anchor  # nothing in it: it only has to exist
    request = importer.bound_token_request("cluster1-credential-x", "uid-1", 7776000)
    assert request["spec"]["expirationSeconds"] == 7776000
    assert request["spec"]["boundObjectRef"] == {
        "apiVersion": "v1", "kind": "Secret", "name": "cluster1-credential-x", "uid": "uid-1",
    }  # fmt: skip


def test_rotate_and_bootstrap_take_credential_expiration() -> None:
    for command in ("bootstrap", "rotate"):
        args = cli.build_parser().parse_args([command, "c1", "c2", "--credential-expiration", "90d"])
        assert args.credential_expiration == "90d"


@pytest.mark.parametrize(
    ("later", "level", "text"),
    [(timedelta(0), "info", "expires at 2027-02-27T12:00:00Z"), (timedelta(days=70), "warn", "(in 20d0h)"),
     (timedelta(days=90), "FAIL", "expired at 2027-02-27T12:00:00Z"), (None, "info", "does not expire")],
)  # fmt: skip
def test_doctor_warns_of_a_credential_near_its_expiry_and_fails_once_expired(
    later: timedelta | None, level: str, text: str
) -> None:
    expires = NOW + timedelta(days=90) if later is not None else None
    credential = Credential("ns/cluster-c2", {}, ENDPOINT, issued_at=NOW, expires_at=expires)
    said = doctor.expiry_report(credential, "c2", NOW + (later or timedelta(0)))
    assert said[0] == level and text in said[1]
    if level != "info":
        assert "renew it with `kubemcsa rotate <this cluster> c2`" in said[1]


# -- export -o kubeconfig --renew, and the plugin it runs ----------------------------------------------


def test_exec_credential_expires_a_minute_early_in_the_version_asked_for() -> None:
    expires = NOW + timedelta(hours=1)
    v1 = json.loads(export.exec_credential("t0k3n", expires, {}))
    assert v1 == {
        "apiVersion": "client.authentication.k8s.io/v1",
        "kind": "ExecCredential",
        "status": {"token": "t0k3n", "expirationTimestamp": format_time(expires - timedelta(minutes=1))},
    }
    info = {"KUBERNETES_EXEC_INFO": json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1"})}
    assert json.loads(export.exec_credential("t", expires, info))["apiVersion"].endswith("/v1beta1")
    assert json.loads(export.exec_credential("t", expires, {"KUBERNETES_EXEC_INFO": "{not json"}))[
        "apiVersion"
    ].endswith("/v1")


def test_renewing_kubeconfig_holds_no_token_and_pins_the_kubeconfig(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "relative/one:/abs/two")
    pinned = export.pinned_kubeconfig(None)
    assert pinned.split(":") == [str(Path("relative/one").resolve()), "/abs/two"]
    cluster = Cluster(name="cluster2", context="admin@two", api=None, endpoint=ENDPOINT)  # type: ignore[arg-type]
    text = export.renewing_kubeconfig(cluster, pinned, "default", "pod-lister", "pod-lister", 600)
    config = yaml.safe_load(text)
    [user] = config["users"]
    assert user["user"] == {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "kubemcsa",
            "args": ["token", "pod-lister", "--namespace", "default", "--kubeconfig", pinned, "--context", "admin@two",
                     "--expiration", "600s"],
            "interactiveMode": "Never",
        }
    }  # fmt: skip
    assert config["clusters"][0]["cluster"]["server"] == ENDPOINT.server
    # `kubemcsa token` takes what the kubeconfig gives it.
    args = cli.build_parser().parse_args(user["user"]["exec"]["args"])
    assert (args.command, args.name, args.namespace, args.context, args.expiration) == (
        "token", "pod-lister", "default", "admin@two", "600s",
    )  # fmt: skip


def test_renew_is_for_kubeconfigs_only() -> None:
    args = cli.build_parser().parse_args(["export", "sa", "--renew"])
    cluster = Cluster(name="c", context="c", api=None, endpoint=ENDPOINT)  # type: ignore[arg-type]
    with pytest.raises(CommandError, match="add -o kubeconfig"):
        cli._export(args, cluster)


# -- kubeconfigs that are not kubeconfigs: one line, naming the file, never quoting it --------------------

SECRETISH = "s3cr3t-t0k3n-in-the-file"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"users: [{{name: x, user: {{token: {SECRETISH}}}}}\nnot: [yaml", "it is not valid YAML (line 2)"),
        (f'"{SECRETISH}"', "it is not a kubeconfig"),
        ("contexts: 5", "its contexts are not a list"),
        (f"contexts: [{SECRETISH}]\ncurrent-context: x", "contexts[0] is not a mapping with a name"),
        (
            "contexts: [{name: a, context: {cluster: c, user: u}}]\ncurrent-context: b",
            'cannot find context "b" in kubeconfig',
        ),
    ],
)
def test_a_bad_kubeconfig_is_one_line_naming_the_file(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(text)
    with pytest.raises(CommandError) as raised:
        kube.connect(path, None, None, "")
    message = str(raised.value)
    assert says in message and str(path) in message and "\n" not in message
    assert SECRETISH not in message
    assert "---" not in message  # the flags of one cluster: --kubeconfig, --context


def test_kubeconfig_files_of_kubeconfig_merge_as_kubectl_merges_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def config(server: str, *contexts: str, current: str) -> str:
        return yaml.safe_dump({
            "current-context": current,
            "clusters": [{"name": c, "cluster": {"server": server}} for c in contexts],
            "contexts": [{"name": c, "context": {"cluster": c, "user": "u"}} for c in contexts],
            "users": [{"name": "u", "user": {"token": "t"}}],
        })  # fmt: skip

    (tmp_path / "one").write_text(config("https://one.example:6443", "c1", current="c1"))
    (tmp_path / "two").write_text(config("https://two.example:6443", "c1", "c2", current="c2"))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{tmp_path / 'one'}:{tmp_path / 'two'}")
    current = kube.connect(None, None, None, "")
    assert (current.context, current.endpoint.server) == ("c1", "https://one.example:6443")  # the first file wins
    assert kube.connect(None, "c2", None, "").endpoint.server == "https://two.example:6443"
    with pytest.raises(CommandError) as raised:
        kube.connect(None, "c3", None, "source")
    assert str(raised.value) == (
        f'cannot find context "c3" in kubeconfig {tmp_path}/missing:{tmp_path}/one:{tmp_path}/two ($KUBECONFIG) '
        '(contexts: "c1", "c2") (use --source-context)'
    )


def test_a_token_file_with_a_line_break_works_as_with_kubectl(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("t0k3n\n")
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump({
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://c.example:6443"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"tokenFile": "token"}}],  # relative to the kubeconfig
    }))  # fmt: skip
    cluster = kube.connect(tmp_path / "kubeconfig", None, None, "")
    assert cluster.api.configuration.get_api_key_with_prefix("BearerToken") == "Bearer t0k3n"


@pytest.mark.parametrize(
    ("logged", "says"),
    [
        ("[Errno 2] No such file or directory: 'gke-gcloud-auth-plugin'", "is not found"),
        ("exec: process returned 1. error: s3cr3t printed by the plugin", "failed (exit code 1)"),
        ("exec: failed to decode process output: Expecting value", "printed no JSON ExecCredential"),
        ("exec: missing token or clientCertificateData field in plugin output", "without a token"),
        ("string indices must be integers", "gave no usable credential"),
    ],
)
def test_a_failing_exec_plugin_is_said_without_what_it_printed(logged: str, says: str) -> None:
    meaning, hint = kubeconfig_check.exec_failure(logged)
    assert says in meaning and "s3cr3t" not in meaning + hint


def test_transport_errors_name_the_server_and_the_cause() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    wrapped = urllib3.exceptions.MaxRetryError(None, "/api", refused)  # type: ignore[arg-type]
    assert transport.describe(wrapped, "https://c.example:6443")[0] == "https://c.example:6443 refused the connection"
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    verify.verify_message = "self-signed certificate"
    cause, hint = transport.describe(urllib3.exceptions.SSLError(verify), "https://c.example:6443")
    assert cause == (
        "the certificate of https://c.example:6443 does not verify with the kubeconfig's certificate authority "
        "(self-signed certificate)"
    )
    assert "certificate-authority" in hint


def test_api_errors_are_one_line_and_quote_only_the_message() -> None:
    err = ApiException(status=403, reason="Forbidden")
    err.body = json.dumps({"message": "no\nway", "details": {"token": SECRETISH}})
    assert kube.api_error_text(err) == "403 no way"
    err.body = json.dumps({"message": {"token": SECRETISH}})
    assert kube.api_error_text(err) == "403 Forbidden"
