"""`kubemcsa export`: a Secret in the seed's format for a service account of this cluster, by hand."""

import re
from dataclasses import replace
from datetime import UTC, datetime

import yaml
from kubernetes import client as k8s

from hooks import contract, names
from hooks.kubeconfig import imported_secret_data
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


def export(
    cluster: Cluster, namespace: str, name: str, export_name: str, expiration: int | None, server: str | None = None
) -> str:
    """The Secret, as YAML, for service account namespace/name, to import as export_name elsewhere; its
    kubeconfig names server, or the kubeconfig's server of cluster."""
    if error := names.dns1123_subdomain_error("export name", export_name):
        raise CommandError(error, "use --as with a lowercase name")
    spec = k8s.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration)
    place = f'cluster "{cluster.name}"'
    with calling(
        "create", f'a token for service account "{namespace}/{name}"', place,
        hint="check the name and namespace (-n), and that you may create serviceaccounts/token there",
    ):  # fmt: skip
        response = k8s.CoreV1Api(cluster.api).create_namespaced_service_account_token(
            name, namespace, k8s.AuthenticationV1TokenRequest(spec=spec)
        )
    token, expires = response.status.token, response.status.expiration_timestamp
    endpoint = replace(cluster.endpoint, server=server) if server else cluster.endpoint
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
    return yaml.safe_dump(secret, sort_keys=False)
