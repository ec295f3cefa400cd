"""`kubemcsa export`: a Secret in the seed's format, or a kubeconfig, for a service account of this cluster, by
hand; and `kubemcsa token`, the credential plugin of an exported kubeconfig that renews its token."""

import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from kubernetes import client as k8s

from hooks import contract, names
from hooks.kubeconfig import ClusterEndpoint, build_kubeconfig, imported_secret_data, token_user
from hooks.sync import MIN_EXPIRATION_SECONDS
from hooks.token import format_time
from hooks.wire import Obj

from .kube import Cluster, CommandError
from .steps import calling

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: str) -> int:
    """Seconds in a duration written as kubectl writes them (and days): 90d, 1h, 30m, 1h30m, 3600s."""
    match = _DURATION.match(value.strip())
    if not value.strip() or match is None:
        raise CommandError(f'invalid duration "{value}"', "write it like 90d, 1h, 30m, 1h30m or 3600s")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if total < MIN_EXPIRATION_SECONDS:
        raise CommandError(f'invalid duration "{value}": the API server issues tokens for at least 10m')
    return total


#: How long before its expiry `kubemcsa token` tells clients to ask again: clients that refresh at the very
#: expiry (client-go, client-node) would otherwise send a last request with a token that expires on the way.
EXPIRY_MARGIN = timedelta(seconds=60)


def request_token(cluster: Cluster, namespace: str, name: str, expiration: int | None) -> tuple[str, datetime]:
    """A new token of service account namespace/name of cluster, and when it expires."""
    spec = k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration)
    place = f'cluster "{cluster.name}"'
    with calling(
        "create", f'a token for service account "{namespace}/{name}"', place,
        hint="check the name and namespace (-n), and that you may create serviceaccounts/token there",
    ):  # fmt: skip
        response = k8s.CoreV1Api(cluster.api).create_namespaced_service_account_token(
            name, namespace, k8s.AuthenticationV1TokenRequest(spec=spec)
        )
    return response.status.token, response.status.expiration_timestamp


def _endpoint(cluster: Cluster, server: str | None) -> ClusterEndpoint:
    return replace(cluster.endpoint, server=server) if server else cluster.endpoint


def _checked(export_name: str) -> str:
    if error := names.dns1123_subdomain_error("export name", export_name):
        raise CommandError(error, "use --as with a lowercase name")
    return export_name


def export(
    cluster: Cluster, namespace: str, name: str, export_name: str, expiration: int | None, server: str | None = None
) -> tuple[str, datetime]:
    """The Secret, as YAML, for service account namespace/name, to import as export_name elsewhere, and when its
    token expires (it is not renewed); its kubeconfig names server, or the kubeconfig's server of cluster."""
    export_name = _checked(export_name)
    token, expires = request_token(cluster, namespace, name, expiration)
    endpoint = _endpoint(cluster, server)
    secret: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": names.secret_name(export_name),
            "labels": {contract.IMPORT_NAME_KEY: export_name},
            "annotations": {
                contract.TOKEN_ISSUED_AT_ANNOTATION: format_time(datetime.now(UTC)),
                contract.TOKEN_EXPIRES_AT_ANNOTATION: format_time(expires),
            },
        },
        "type": contract.SECRET_TYPE,
        "data": imported_secret_data(export_name, endpoint, namespace, token),
    }
    return yaml.safe_dump(secret, sort_keys=False), expires


def export_kubeconfig(
    cluster: Cluster, namespace: str, name: str, export_name: str, expiration: int | None, server: str | None = None
) -> tuple[str, datetime]:
    """A kubeconfig for service account namespace/name with a token in it (not renewed), and its expiry."""
    export_name = _checked(export_name)
    token, expires = request_token(cluster, namespace, name, expiration)
    return build_kubeconfig(export_name, _endpoint(cluster, server), namespace, token_user(token, None)), expires


def renewing_kubeconfig(
    cluster: Cluster,
    kubeconfig: str,
    namespace: str,
    name: str,
    export_name: str,
    expiration: int | None,
    server: str | None = None,
) -> str:
    """A kubeconfig for service account namespace/name whose user runs `kubemcsa token` with the credentials of
    cluster's context in kubeconfig (absolute paths), which asks cluster for a new token each time clients
    find the last one expired. It holds no token."""
    args = ["token", name, "--namespace", namespace, "--kubeconfig", kubeconfig, "--context", cluster.context]
    if expiration is not None:
        args += ["--expiration", f"{expiration}s"]
    user: Obj = {
        "exec": {
            "apiVersion": contract.EXEC_CREDENTIAL_API_VERSION,
            "command": "kubemcsa",
            "args": args,
            "interactiveMode": "Never",
        }
    }
    return build_kubeconfig(_checked(export_name), _endpoint(cluster, server), namespace, user)


def pinned_kubeconfig(kubeconfig: Path | None) -> str:
    """The kubeconfig path(s) kubemcsa reads now, made absolute, so that a plugin run later (with KUBECONFIG
    naming the exported file, maybe) reads the same ones."""
    value = str(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or "~/.kube/config"
    return os.pathsep.join(os.path.abspath(os.path.expanduser(p)) for p in value.split(os.pathsep) if p)


def exec_credential(token: str, expires: datetime, environ: dict[str, str] | None = None) -> str:
    """An ExecCredential (JSON) for token, expiring EXPIRY_MARGIN early, in the version the client asked for
    in KUBERNETES_EXEC_INFO (v1 unless it asked for v1beta1)."""
    api_version = contract.EXEC_CREDENTIAL_API_VERSION
    try:
        info = json.loads((os.environ if environ is None else environ).get("KUBERNETES_EXEC_INFO") or "{}")
    except ValueError:
        info = {}
    if isinstance(info, dict) and info.get("apiVersion") == "client.authentication.k8s.io/v1beta1":
        api_version = "client.authentication.k8s.io/v1beta1"
    status = {"token": token, "expirationTimestamp": format_time(expires - EXPIRY_MARGIN)}
    return json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "status": status})


def not_renewed_note(expires: datetime, what: str) -> str:
    return (
        f"note: the token expires at {format_time(expires)} and is not renewed: {what} stops working then. For a "
        "token that renews, import the service account with a ServiceAccountImport, or export a kubeconfig "
        "with -o kubeconfig --renew"
    )
