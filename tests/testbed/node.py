"""A real node for a test bed's cluster: containerd, kubelet, kube-proxy (iptables), and the cluster's
kube-scheduler, inside the bed's own network namespace (see isolated.py).

- containerd 2.x (built from the Go module proxy) with Debian's runc; its state under the bed's
  directory and /run/<netns>/, so that beds never share one. The images built by
  tests/tools/build-images.sh are imported before the kubelet starts; nothing is ever pulled.
- CNI: a `bridge` (cni0, the pods' gateway, hairpin for Services that lead back to the same pod) with
  `host-local` addresses from POD_CIDR, and `portmap`; `loopback` is called by containerd.
- kubelet: cgroup v1 (these machines have a hybrid hierarchy: `failCgroupV1: false`, the cgroupfs
  driver) under a cgroup root of the bed's own (/<netns>), x509 client authentication, a serving
  certificate from the cluster's CA for the node's address, image garbage collection off (the images
  cannot be pulled again) and eviction thresholds low enough for a shared disk.
- kube-proxy in iptables mode, as the node's Service network; kube-scheduler with its own identity.

Each component gets a client certificate of its own from the cluster's CA, with the identity that the
cluster's bootstrap RBAC expects (system:node:<name>, system:kube-proxy, system:kube-scheduler).
"""

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from kubernetes import client as k8s

from hooks.pki import issue, write_private

from . import netpol
from .cluster import ControlPlane, ControlPlaneError, Process, free_port, pinned_versions, wait_for
from .scenario import api_client

POD_CIDR = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
SANDBOX_IMAGE_PREFIX = "registry.k8s.io/pause:"
CGROUP_ROOT = Path("/sys/fs/cgroup")


def make_cgroup_root(name: str) -> None:
    """/<name> in every cgroup v1 hierarchy (cpuset filled from its parent, as cpuset needs)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        raise ControlPlaneError(
            "this machine has a unified cgroup v2 hierarchy only; the test bed's node is set up for the "
            "cgroup v1 (hybrid) hierarchy of the machines it was made on (tests/testbed/node.py)"
        )
    for hierarchy in CGROUP_ROOT.iterdir():
        if not hierarchy.is_dir() or hierarchy.name == "unified" or not (hierarchy / "cgroup.procs").exists():
            continue
        directory = hierarchy / name
        directory.mkdir(exist_ok=True)
        for key in ("cpuset.cpus", "cpuset.mems"):
            if (directory / key).exists() and not (directory / key).read_text().strip():
                (directory / key).write_text((hierarchy / key).read_text())


def unmount_under(directory: Path) -> None:
    """Unmount everything mounted under directory (the pods' volumes, rootfs and network namespaces),
    deepest first, so that it can be removed."""
    prefix = str(directory.resolve()) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(prefix):
            points.append(point)
    for point in sorted(set(points), key=lambda p: -p.count("/")):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)


@dataclass
class Node:
    plane: ControlPlane
    directory: Path
    bin_dir: Path
    images_dir: Path
    #: The network namespace's name: also the node's cgroup root and run directory.
    netns: str
    #: kube-network-policies, to enforce NetworkPolicy on the node (None: not enforced).
    network_policies: Path | None = None
    name: str = ""
    processes: dict[str, Process] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.directory = self.directory.resolve()
        self.name = self.name or f"{self.plane.name}-node"
        self.run_dir = Path("/run") / self.netns / self.plane.name

    @property
    def address(self) -> str:
        return self.plane.address

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    # -- files --------------------------------------------------------------------------------------

    def _kubeconfig(self, name: str, common_name: str, organizations: tuple[str, ...] = ()) -> Path:
        pair = issue(self.plane.pair("ca"), common_name, organizations=organizations, client=True)
        config = self.plane.kubeconfig(pair, context=self.plane.name)
        path = self.directory / f"{name}.kubeconfig"
        write_private(path, yaml.safe_dump(config).encode())
        return path

    def sandbox_image(self) -> str:
        """The pause image (imported, pinned): the pod sandbox, and the smallest container to run."""
        version = pinned_versions()["PAUSE_VERSION"]
        if not (self.images_dir / f"registry.k8s.io_pause_{version}.tar").exists():
            raise ControlPlaneError(f"no sandbox image {version} in {self.images_dir}; run tests/tools/build-images.sh")
        return SANDBOX_IMAGE_PREFIX + version

    def _containerd_config(self) -> Path:
        d = self.directory
        cni = {
            "cniVersion": "1.0.0",
            "name": "mcsa-testbed",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(d / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (d / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
        (d / "cni" / "net.d" / "10-mcsa.conflist").write_text(json.dumps(cni, indent=2))
        # Every registry is a closed port on loopback: an image that is not there fails at once, and no
        # registry's name is ever looked up.
        (d / "certs.d" / "_default").mkdir(parents=True, exist_ok=True)
        (d / "certs.d" / "_default" / "hosts.toml").write_text('server = "https://127.0.0.1:1"\n')
        config = f"""version = 3
root = "{d / "containerd"}"
state = "{self.run_dir / "containerd"}"

[grpc]
  address = "{self.containerd_socket}"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "{d / "certs.d"}"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{self.sandbox_image()}"

[plugins."io.containerd.cri.v1.runtime"]
  # Without it runc fails: "failed to update /proc/self/oom_score_adj: Permission denied".
  restrict_oom_score_adj = true
  # The pods' network namespaces under state, not in the machine's /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{self.bin_dir / "cni"}"]
    conf_dir = "{d / "cni" / "net.d"}"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
    SystemdCgroup = false
    Root = "{self.run_dir / "runc"}"

[plugins."io.containerd.nri.v1.nri"]
  disable = true
"""
        path = d / "containerd.toml"
        path.write_text(config)
        return path

    def _kubelet_config(self) -> Path:
        d = self.directory
        ca = self.plane.pair("ca")
        serving = issue(ca, self.name, hosts=(self.address, self.name))
        (d / "kubelet-pki").mkdir(parents=True, exist_ok=True)
        (d / "kubelet-pki" / "kubelet.crt").write_bytes(serving.cert_pem)
        write_private(d / "kubelet-pki" / "kubelet.key", serving.key_pem)
        (d / "resolv.conf").write_text("# no DNS in the test bed\n")
        self.kubelet_port = free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "failCgroupV1": False,
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{self.netns}",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": self.address,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "tlsCertFile": str(d / "kubelet-pki" / "kubelet.crt"),
            "tlsPrivateKeyFile": str(d / "kubelet-pki" / "kubelet.key"),
            "authentication": {
                "x509": {"clientCAFile": str(self.plane.pki / "ca.crt")},
                "webhook": {"enabled": False},
                "anonymous": {"enabled": False},
            },
            "authorization": {"mode": "AlwaysAllow"},
            "resolvConf": str(d / "resolv.conf"),
            "podLogsDir": str(d / "pod-logs"),
            "failSwapOn": False,
            "imageGCHighThresholdPercent": 100,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "serializeImagePulls": False,
            "rotateCertificates": False,
            "registerNode": True,
        }
        path = d / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def _kube_proxy_config(self) -> Path:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self._kubeconfig("kube-proxy", "system:kube-proxy"))},
            "hostnameOverride": self.name,
            "mode": "iptables",
            "clusterCIDR": CLUSTER_CIDR,
            "healthzBindAddress": f"127.0.0.1:{free_port()}",
            "metricsBindAddress": f"127.0.0.1:{free_port()}",
            # The conntrack table size is not per network namespace: leave the machine's alone.
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        }
        path = self.directory / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    # -- processes ----------------------------------------------------------------------------------

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        # containerd finds its shim, and the shim runc, on PATH.
        env = {**os.environ, "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '')}", **(env or {})}
        process = Process(name, args, self.directory / f"{name}.log", env=env)
        self.processes[name] = process
        process.start()

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        own = list(self.processes.values())
        wait_for(ready, f"node {self.name}", what, timeout, [*own, *self.plane.processes.values()], len(own))

    def ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / "ctr"), "--address", str(self.containerd_socket), "--namespace", "k8s.io", *args]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def _import_images(self) -> None:
        for archive in sorted(self.images_dir.glob("*.tar")):
            result = self.ctr("images", "import", str(archive))
            if result.returncode != 0:
                raise ControlPlaneError(f"cannot import {archive} into containerd: {result.stderr.strip()}")

    def _node_ready(self) -> bool:
        try:
            node = k8s.CoreV1Api(self.api).read_node(self.name)
        except k8s.ApiException:
            return False
        return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])

    def _proxy_ready(self) -> bool:
        """kube-proxy has written the `kubernetes` Service's rule."""
        result = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True, check=False)
        return f"-d {self.plane.kubernetes_service_ip}/32" in result.stdout

    def start(self, timeout: float = 120) -> "Node":
        self.directory.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.api = api_client(self.plane.admin_kubeconfig, self.plane.name)
        b = self.bin_dir
        try:
            make_cgroup_root(self.netns)
            self._start("containerd", [str(b / "containerd"), "--config", str(self._containerd_config())])
            self._wait(lambda: self.ctr("version").returncode == 0, "containerd's socket", timeout)
            self._import_images()
            node_kubeconfig = self._kubeconfig("kubelet", f"system:node:{self.name}", ("system:nodes",))
            kubelet = [
                str(b / "kubelet"),
                f"--config={self._kubelet_config()}",
                f"--kubeconfig={node_kubeconfig}",
                f"--root-dir={self.directory / 'kubelet'}",
                f"--cert-dir={self.directory / 'kubelet-pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.address}",
            ]
            self._start("kubelet", kubelet)
            scheduler = self._kubeconfig("kube-scheduler", "system:kube-scheduler")
            self._start(
                "kube-scheduler",
                [str(b / "kube-scheduler"), f"--kubeconfig={scheduler}", "--leader-elect=false", "--secure-port=0"],
            )
            self._start("kube-proxy", [str(b / "kube-proxy"), f"--config={self._kube_proxy_config()}"])
            self._wait(self._node_ready, f"node {self.name} Ready", timeout)
            self._wait(self._proxy_ready, "kube-proxy's Service rules", timeout)
            if self.network_policies is not None:
                self._enforce_network_policies(self.network_policies, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _enforce_network_policies(self, binary: Path, timeout: float) -> None:
        """kube-network-policies on the node, and every connection between pods queued to it (netpol.py)."""
        netpol.write_credentials(netpol.authorize(self.api), self.plane.ca_pem)
        args, env = netpol.command(binary, self.plane, self.name)
        self._start("kube-network-policies", args, env)
        self._wait(netpol.reading_queue, "kube-network-policies to read its queue", timeout)
        netpol.queue_forwarded_connections()

    def stop(self) -> None:
        """Stop the kubelet first (so it restarts nothing), then every pod's containers, then the rest."""
        if "kubelet" in self.processes:
            self.processes["kubelet"].stop()
        if "containerd" in self.processes and self.processes["containerd"].popen is not None:
            tasks = self.ctr("tasks", "list", "--quiet").stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "--signal", "SIGKILL", "--all", task)
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        unmount_under(self.directory)
        unmount_under(self.run_dir)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def pids(self) -> list[int]:
        return [p.popen.pid for p in self.processes.values() if p.popen is not None]
