"""NetworkPolicy enforced on cluster1's node by SIG Network's own implementation, kube-network-policies
(v0.8.0, built from the Go module proxy by tests/tools/build-network-policies.sh), run as a process of the node.

kube-network-policies decides, for every new connection to or from a pod of its node, whether the cluster's
NetworkPolicies allow it (it watches pods, namespaces and NetworkPolicies, and reads each packet from an
NFQUEUE). To get the packets it installs nftables rules that queue them (the nft `queue` statement); this
machine's kernel is built without CONFIG_NFT_QUEUE, so those rules fail to load ("netlink receive: no such file
or directory"; it logs that and retries), while its queue reader works. The bed therefore queues the packets
itself, with one iptables rule of the same meaning in the node's FORWARD chain: every new connection between
pods, directly or through a Service (after kube-proxy's DNAT; the CNI bridge's traffic passes FORWARD, since
bridge-nf-call-iptables is on), goes to kube-network-policies' queue, which accepts or drops it; with nothing
reading the queue, it is dropped (its default, --fail-open=false). Connections from the node's own processes
(the API servers, the Metacontroller test double, the kubelet's probes) do not pass FORWARD and are never
policed, as kube-network-policies itself never polices the node's own traffic (its rules accept `meta skuid 0`).

It reads only in-cluster credentials: the bed gives it a token of its own service account (with the RBAC of its
install.yaml) at the fixed path, in the bed's own mount namespace (isolated.py), and the API server's address in
KUBERNETES_SERVICE_HOST/PORT.
"""

import subprocess
import urllib.parse
from pathlib import Path

from kubernetes import client as k8s

from .cluster import ControlPlane, ControlPlaneError, free_port

NAME, NAMESPACE = "kube-network-policies", "kube-system"
QUEUE = 100
CREDENTIALS = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Every new connection the node forwards (pod to pod) to kube-network-policies' queue.
RULE = ["FORWARD", "-m", "conntrack", "--ctstate", "NEW", "-j", "NFQUEUE", "--queue-num", str(QUEUE)]
TOKEN_SECONDS = 24 * 3600


def authorize(api: k8s.ApiClient) -> str:
    """Its service account and RBAC (as its install.yaml makes them); a token for it."""
    rbac, core = k8s.RbacAuthorizationV1Api(api), k8s.CoreV1Api(api)
    rbac.create_cluster_role({
        "metadata": {"name": NAME},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["list", "watch"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["list", "watch"]},
        ],
    })  # fmt: skip
    rbac.create_cluster_role_binding({
        "metadata": {"name": NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    })  # fmt: skip
    core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": NAME}})
    request = {"spec": {"audiences": [], "expirationSeconds": TOKEN_SECONDS}}
    token: str = core.create_namespaced_service_account_token(NAME, NAMESPACE, request).status.token
    return token


def command(binary: Path, plane: ControlPlane, node_name: str) -> tuple[list[str], dict[str, str]]:
    """kube-network-policies' command line and environment, once its credentials are in place."""
    server = urllib.parse.urlsplit(plane.server)
    args = [
        str(binary),
        f"--hostname-override={node_name}",
        f"--nfqueue-id={QUEUE}",
        f"--metrics-bind-address=127.0.0.1:{free_port()}",
        "--netfilter-bug-1766-fix=false",  # its DNS rules, which cannot load either; the cluster has no DNS
        "--v=2",
    ]
    return args, {"KUBERNETES_SERVICE_HOST": str(server.hostname), "KUBERNETES_SERVICE_PORT": str(server.port)}


def write_credentials(token: str, ca_pem: bytes) -> None:
    CREDENTIALS.mkdir(parents=True, exist_ok=True)
    for name, data in (("token", token.encode()), ("ca.crt", ca_pem)):
        path = CREDENTIALS / name
        path.write_bytes(data)
        path.chmod(0o600)


def reading_queue() -> bool:
    """kube-network-policies has bound its queue (in this network namespace)."""
    try:
        lines = Path("/proc/net/netfilter/nfnetlink_queue").read_text().splitlines()
    except OSError:
        return False
    return any(line.split()[:1] == [str(QUEUE)] for line in lines)


def queue_forwarded_connections() -> None:
    """The iptables rule that hands kube-network-policies every connection the node forwards."""
    if subprocess.run(["iptables", "-w", "-C", *RULE], capture_output=True, check=False).returncode == 0:
        return
    added = subprocess.run(["iptables", "-w", "-I", *RULE[:1], "1", *RULE[1:]], capture_output=True, text=True)
    if added.returncode != 0:
        raise ControlPlaneError(f"cannot queue forwarded connections to kube-network-policies: {added.stderr.strip()}")
