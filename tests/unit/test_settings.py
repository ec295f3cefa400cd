from pathlib import Path

import pytest
import yaml

from hooks.settings import Settings

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
        ({"MCSA_REMOTE_TIMEOUT_SECONDS": "soon"}, "MCSA_REMOTE_TIMEOUT_SECONDS='soon' is not a number"),
        ({"MCSA_REMOTE_TIMEOUT_SECONDS": "7"}, "at most 6"),
        ({"MCSA_RENEW_FRACTION": "1"}, "between 0.1 and 0.95"),
        ({"MCSA_RETRY_MIN_SECONDS": "600"}, "at most MCSA_RETRY_MAX_SECONDS"),
        ({"MCSA_THREADS": "1"}, "MCSA_THREADS must be at least 2"),
        ({"MCSA_CREDENTIAL_PLUGIN_IMAGE": "a b"}, "MCSA_CREDENTIAL_PLUGIN_IMAGE='a b' is not an image reference"),
        ({"MCSA_THREADS": "2.5"}, "MCSA_THREADS='2.5' is not a whole number"),
        ({"MCSA_WEBHOOK_BIND": "9443"}, r"MCSA_WEBHOOK_BIND='9443' is not HOST:PORT with a port from 1 to 65535"),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:https"}, "MCSA_WEBHOOK_BIND='0.0.0.0:https' is not HOST:PORT"),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:0"}, "is not HOST:PORT with a port from 1 to 65535"),
        ({"MCSA_WEBHOOK_BIND": "0.0.0.0:70000"}, "is not HOST:PORT with a port from 1 to 65535"),
        ({"MCSA_WEBHOOK_BIND": ":::9443"}, r"is not HOST:PORT .*\[::\]:9443 for IPv6"),
        ({"MCSA_WEBHOOK_BIND": "unix:/run/webhook.sock"}, "MCSA_WEBHOOK_BIND='unix:/run/webhook.sock' is not"),
        (
            {"MCSA_WEBHOOK_BIND": "0.0.0.0:8443"},
            r"MCSA_WEBHOOK_BIND must name another port than MCSA_BIND \(both 8443\)",
        ),
        (
            {"MCSA_WEBHOOK_BIND": "127.0.0.1:9443", "MCSA_BIND": "0.0.0.0:9443"},
            "another port than MCSA_BIND",
        ),
    ],
)
def test_bad_settings_say_which(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(environ)
