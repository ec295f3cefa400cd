from pathlib import Path

import pytest
import yaml

from hooks.settings import ServerSettings, Settings

REPO = Path(__file__).resolve().parents[2]


def test_defaults_and_environment() -> None:
    assert Settings.from_env({}) == Settings()
    settings = Settings.from_env({"MCSA_REMOTE_TIMEOUT_SECONDS": "2.5", "MCSA_CREDENTIALS_NAMESPACE": "other"})
    assert (settings.remote_timeout_seconds, settings.credentials_namespace) == (2.5, "other")
    assert Settings.from_env({"MCSA_THREADS": "3"}).threads == 3


def test_the_plugin_image_is_the_manifests_one_and_may_be_turned_off() -> None:
    hooks = next(
        d for d in yaml.safe_load_all((REPO / "manifests/base/hooks.yaml").read_text()) if d["kind"] == "Deployment"
    )
    [container] = hooks["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["MCSA_CREDENTIAL_PLUGIN_IMAGE"] == Settings().credential_plugin_image
    assert Settings.from_env({"MCSA_CREDENTIAL_PLUGIN_IMAGE": ""}).credential_plugin_image == ""


@pytest.mark.parametrize(
    ("environ", "ports"),
    [
        ({}, (None, 8443)),
        ({"MCSA_WEBHOOK_BIND": ""}, (None, 8443)),
        ({"MCSA_WEBHOOK_BIND": "  "}, (None, 8443)),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:9443"}, (9443, 8443)),
        ({"MCSA_WEBHOOK_BIND": "[::]:9443", "MCSA_BIND": "[::]:8443"}, (9443, 8443)),
        ({"MCSA_WEBHOOK_BIND": ":9443", "MCSA_BIND": "127.0.0.1:18443"}, (9443, 18443)),
        ({"MCSA_WEBHOOK_BIND": "127.0.0.1:9443", "MCSA_BIND": "unix:/run/hooks.sock"}, (9443, None)),
    ],
)
def test_ports_from_the_bind_addresses(environ: dict[str, str], ports: tuple[int | None, int | None]) -> None:
    settings = Settings.from_env(environ)
    assert (settings.webhook_port, settings.hooks_port) == ports


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MCSA_REMOTE_TIMEOUT_SECONDS": "soon"}, "MCSA_REMOTE_TIMEOUT_SECONDS='soon' is invalid: give a number of "
         "seconds above 0 and at most 6: the sync hook's timeout in metacontroller/ is 8 s (default 4)"),
        ({"MCSA_REMOTE_TIMEOUT_SECONDS": "7"}, "MCSA_REMOTE_TIMEOUT_SECONDS='7' is invalid: give a number of seconds"),
        ({"MCSA_REMOTE_TIMEOUT_SECONDS": "inf"}, "MCSA_REMOTE_TIMEOUT_SECONDS='inf' is invalid"),
        ({"MCSA_RENEW_FRACTION": "1"}, "MCSA_RENEW_FRACTION='1' is invalid: give a number from 0.1 to 0.95"),
        ({"MCSA_RENEW_FRACTION": "nan"}, "MCSA_RENEW_FRACTION='nan' is invalid"),
        ({"MCSA_RENEW_MARGIN_SECONDS": "-1"}, "MCSA_RENEW_MARGIN_SECONDS='-1' is invalid: give a number"),
        ({"MCSA_RENEW_MARGIN_SECONDS": "1e999"}, "MCSA_RENEW_MARGIN_SECONDS='1e999' is invalid"),
        ({"MCSA_RETRY_MIN_SECONDS": "600"}, "MCSA_RETRY_MIN_SECONDS='600' is invalid: give a number of seconds above 0 "
         "and at most MCSA_RETRY_MAX_SECONDS (300)"),
        ({"MCSA_RETRY_MAX_SECONDS": "0"}, "MCSA_RETRY_MAX_SECONDS='0' is invalid: give a number of seconds above 0"),
        ({"MCSA_THREADS": "1"}, "MCSA_THREADS='1' is invalid: give a whole number, 2 or more"),
        ({"MCSA_THREADS": "2.5"}, "MCSA_THREADS='2.5' is invalid: give a whole number, 2 or more"),
        ({"MCSA_CREDENTIAL_PLUGIN_IMAGE": "a b"}, "MCSA_CREDENTIAL_PLUGIN_IMAGE='a b' is invalid: give the plugin's "
         "image"),
        ({"MCSA_CREDENTIALS_NAMESPACE": "Not_A_Namespace"}, "MCSA_CREDENTIALS_NAMESPACE='Not_A_Namespace' is invalid: "
         "give a namespace name"),
        ({"MCSA_WEBHOOK_BIND": "9443"}, "MCSA_WEBHOOK_BIND='9443' is invalid: give HOST:PORT with a port from 1"),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:https"}, "MCSA_WEBHOOK_BIND='0.0.0.0:https' is invalid: give HOST:PORT"),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:0"}, "is invalid: give HOST:PORT with a port from 1 to 65535"),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:70000"}, "is invalid: give HOST:PORT with a port from 1 to 65535"),
        ({"MCSA_WEBHOOK_BIND": ":::9443"}, "[::]:9443 for IPv6"),
        ({"MCSA_WEBHOOK_BIND": "unix:/run/webhook.sock"}, "MCSA_WEBHOOK_BIND='unix:/run/webhook.sock' is invalid"),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:8443"}, "MCSA_WEBHOOK_BIND='0.0.0.0:8443' is invalid: give another port than "
         "MCSA_BIND (8443)"),
        ({"MCSA_WEBHOOK_BIND": "127.0.0.1:9443", "MCSA_BIND": "0.0.0.0:9443"}, "another port than MCSA_BIND (9443)"),
        ({"MCSA_BIND": "somewhere"}, "MCSA_BIND='somewhere' is invalid: give HOST:PORT with a port from 1 to 65535 "
         "(e.g. 0.0.0.0:9443, or [::]:9443 for IPv6), unix:PATH or fd://N"),
        ({"MCSA_BIND": "unix:"}, "MCSA_BIND='unix:' is invalid"),
    ],
)  # fmt: skip
def test_bad_settings_say_which_and_what_they_may_be(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        Settings.from_env(environ)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_a_huge_value_is_quoted_cut() -> None:
    with pytest.raises(ValueError) as raised:
        Settings.from_env({"MCSA_THREADS": "9" * 5000 + "x"})
    assert len(str(raised.value)) < 400


SERVER = {"MCSA_TLS_CERT_FILE": "tls.crt", "MCSA_TLS_KEY_FILE": "tls.key"}


def test_server_settings_defaults() -> None:
    server = ServerSettings.from_env(SERVER)
    assert (server.log_level, server.binds, server.workers, server.allow_http) == (
        "INFO", {"MCSA_BIND": "0.0.0.0:8443"}, 2, False,
    )  # fmt: skip
    server = ServerSettings.from_env({"MCSA_ALLOW_HTTP": "TRUE", "MCSA_LOG_LEVEL": "debug", "MCSA_WORKERS": "3",
                                      "MCSA_BIND": "unix:/run/h.sock", "MCSA_WEBHOOK_BIND": "[::]:9443"})  # fmt: skip
    assert (server.log_level, server.binds, server.workers, server.allow_http, server.certfile) == (
        "DEBUG", {"MCSA_BIND": "unix:/run/h.sock", "MCSA_WEBHOOK_BIND": "[::]:9443"}, 3, True, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MCSA_LOG_LEVEL": "loud"}, "MCSA_LOG_LEVEL='loud' is invalid: give DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ({"MCSA_WORKERS": "abc"}, "MCSA_WORKERS='abc' is invalid: give a whole number of processes, 1 or more"),
        ({"MCSA_WORKERS": "0"}, "MCSA_WORKERS='0' is invalid"),
        ({"MCSA_BIND": "abc:xyz"}, "MCSA_BIND='abc:xyz' is invalid: give HOST:PORT"),
        ({"MCSA_ALLOW_HTTP": "yes"}, "MCSA_ALLOW_HTTP='yes' is invalid: give true (serve plain HTTP"),
        ({"MCSA_TLS_CERT_FILE": ""}, "set MCSA_TLS_CERT_FILE and MCSA_TLS_KEY_FILE"),
    ],
)  # fmt: skip
def test_bad_server_settings_say_which_and_what_they_may_be(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        ServerSettings.from_env({**SERVER, **environ})
    assert message in str(raised.value)
