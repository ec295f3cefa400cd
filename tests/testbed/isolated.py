"""`python -m tests.testbed.isolated [--name NAME] [--keep] -- COMMAND...`: run COMMAND in the test bed's
own network namespace, where the real node can run.

As root: builds the node and the images (outside the namespace: they need the package registries),
makes a network namespace with loopback and one veth pair carrying the node's address, and no route
off this machine, then runs COMMAND inside it (`nsenter --net`, and a private mount namespace so that
the kubelet's and containerd's mounts stay the bed's own). Every address the bed uses, the Service and
pod ranges too, exists only in there: a mistake cannot reach another machine. In that mount namespace,
the paths the kubelet and the CNI plugins write whatever their configuration (/var/log/containers,
/var/lib/cni, /var/lib/kubelet) are a tmpfs of the bed's own, and the kernel settings the kubelet
sets for a node (kernel.panic, vm.overcommit_memory, ...; not per network namespace) are files of the
bed's own, so the machine's stay as they are. When COMMAND ends, every process left in the namespace
and in the pods' cgroups is killed and the namespace removed (unless --keep, for `make testbed-up`);
a namespace whose bed was killed outright is removed by the next run.

Without root: says so in one line and runs COMMAND as it is, on the kubelet-less bed (pods are stored,
never run). In CI (`CI=true`) that is a failure instead.

COMMAND sees MCSA_TESTBED_NETNS, MCSA_NODE_IP, MCSA_NODE_BIN_DIR, MCSA_IMAGES_DIR and MCSA_NETWORK_POLICIES (the
kube-network-policies binary).
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from .cluster import REPO
from .node import unmount_under

NETNS_DIR = Path("/var/run/netns")
CGROUP_ROOT = Path("/sys/fs/cgroup")
SHIM_SOCKETS = Path("/run/containerd/s")
#: Every bed's network namespace is named so.
PREFIX = "mcsa-"
NODE_IP = "10.200.0.1"
NODE_PREFIX_LENGTH = 24
NODE_LINK, PEER_LINK = "mcsa-node", "mcsa-peer"
#: Every cluster's Service range (10.0.<i>.0/24) is routed to the node's link, so that connections from
#: the namespace itself (the API servers calling webhooks, the tests) get as far as kube-proxy's rules,
#: as a node's default route would take them. The link's peer is in the namespace too: nothing leaves.
SERVICE_RANGE = "10.0.0.0/16"
ENV_NETNS, ENV_NODE_IP, ENV_NODE_BIN, ENV_IMAGES, ENV_CLIENTS, ENV_NETWORK_POLICIES = (
    "MCSA_TESTBED_NETNS", "MCSA_NODE_IP", "MCSA_NODE_BIN_DIR", "MCSA_IMAGES_DIR", "MCSA_CLIENTS",
    "MCSA_NETWORK_POLICIES",
)  # fmt: skip
#: Written by the kubelet (setupKernelTunables) on every node; machine-wide, so given files of their own.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
#: Written by the kubelet, containerd's CNI cache and the device-plugin manager at fixed paths; where pods
#: find imports and the credential plugin, which the client test (tests/e2e/test_clients.py) mirrors on this
#: machine for the client libraries it runs here; and where kube-network-policies, which knows only in-cluster
#: credentials, reads its token (tests/testbed/netpol.py).
FIXED_PATHS = (
    Path("/var/log/containers"),
    Path("/var/lib/cni"),
    Path("/var/lib/kubelet"),
    Path("/var/run/secrets/admiralty.io"),
    Path("/var/run/secrets/kubernetes.io"),
)
NO_ROOT = (
    "not root: the test bed runs without a node (no kubelet: pods are stored, never run); run as root for the real node"
)


class IsolationError(RuntimeError):
    pass


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise IsolationError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def _build(script: str) -> Path:
    # PYTHON: the stand-in base image copies this interpreter (the project's CPython 3.11).
    env = {**os.environ, "PYTHON": sys.executable}
    result = subprocess.run(
        [str(REPO / "tests" / "tools" / script)], stdout=subprocess.PIPE, text=True, check=False, env=env
    )
    if result.returncode != 0:
        raise IsolationError(f"tests/tools/{script} failed with exit code {result.returncode}; see its output above")
    return Path(result.stdout.strip().splitlines()[-1])


def create(name: str) -> None:
    """A network namespace with loopback and a veth pair holding the node's address; no other route."""
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up")
        _run("ip", "-n", name, "link", "add", NODE_LINK, "type", "veth", "peer", "name", PEER_LINK)
        _run("ip", "-n", name, "addr", "add", f"{NODE_IP}/{NODE_PREFIX_LENGTH}", "dev", NODE_LINK)
        _run("ip", "-n", name, "link", "set", NODE_LINK, "up")
        _run("ip", "-n", name, "link", "set", PEER_LINK, "up")
        _run("ip", "-n", name, "route", "add", SERVICE_RANGE, "dev", NODE_LINK)
        # Pods reach the node (API servers) and Services through the bridge; bridged traffic goes
        # through iptables for kube-proxy's Service rules (both per namespace).
        for key, value in (("net/ipv4/ip_forward", "1"), ("net/bridge/bridge-nf-call-iptables", "1")):
            _run("nsenter", f"--net={NETNS_DIR / name}", "sh", "-c", f"echo {value} > /proc/sys/{key}")
        routes = _run("ip", "-n", name, "route", "show", "default")
        if routes.strip():
            raise IsolationError(f"network namespace {name} has a default route: {routes.strip()}")
    except BaseException:
        delete(name)
        raise


def pod_cgroups(name: str) -> list[Path]:
    """The kubelet's cgroup root for this bed (cgroupRoot /NAME) in every hierarchy."""
    return sorted(p / name for p in CGROUP_ROOT.iterdir() if (p / name).is_dir())


def _ancestors() -> set[int]:
    """This process and its parents: never killed by delete() (`make testbed-down` from a shell in the
    namespace)."""
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return pids


def _kill_all(pids: set[int]) -> None:
    for pid in pids - _ancestors():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _cgroup_pids(name: str) -> set[int]:
    pids: set[int] = set()
    for root in pod_cgroups(name):
        for procs in root.rglob("cgroup.procs"):
            try:
                pids.update(int(line) for line in procs.read_text().split())
            except OSError:
                pass
    return pids


def check_name(name: str) -> None:
    """Names are the namespace's, the pods' cgroup root and /run/NAME: only ever a bed's."""
    if not name.startswith(PREFIX) or not name[len(PREFIX) :].replace("-", "").isalnum() or len(name) > 40:
        raise IsolationError(f"invalid test bed name {name!r}: must be {PREFIX}<letters, digits, dashes>")


def delete(name: str) -> None:
    """Kill what runs in the namespace and in the pods' cgroups, remove those cgroups and the namespace."""
    check_name(name)
    if (NETNS_DIR / name).exists():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = {int(p) for p in _run("ip", "netns", "pids", name).split()} | _cgroup_pids(name)
            if not pids - _ancestors():
                break
            _kill_all(pids)
            time.sleep(0.2)
    else:
        _kill_all(_cgroup_pids(name))
    for root in pod_cgroups(name):
        for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            try:
                directory.rmdir()
            except OSError:
                pass
        try:
            root.rmdir()
        except OSError:
            pass
    if (NETNS_DIR / name).exists():
        _run("ip", "netns", "delete", name)
    run_dir = Path("/run") / name
    if run_dir.exists():
        unmount_under(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)
    _remove_stale_shim_sockets()


def _remove_stale_shim_sockets() -> None:
    """containerd's shims put their sockets in /run/containerd/s whatever its state directory; a shim
    killed with its bed leaves its socket. Removed when nothing listens on it any more, and only while no
    other bed runs (listening sockets show in /proc/net/unix of their own network namespace only)."""
    if not SHIM_SOCKETS.is_dir() or any(p.name.startswith(PREFIX) for p in NETNS_DIR.glob("*")):
        return
    listening = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 8 and fields[5] == "01":  # state 01: listening
            listening.add(fields[7])
    for socket_file in SHIM_SOCKETS.iterdir():
        if socket_file.is_socket() and str(socket_file) not in listening:
            socket_file.unlink(missing_ok=True)


def reap_orphans() -> None:
    """Remove the namespaces of beds whose wrapper died (SIGKILL, a crash): mcsa-<pid> of a dead pid."""
    for path in NETNS_DIR.glob(f"{PREFIX}*"):
        pid = path.name[len(PREFIX) :]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            print(f"removing network namespace {path.name}, left by a test bed that was killed", file=sys.stderr)
            delete(path.name)


def inside(name: str, command: list[str]) -> int:
    """In the bed's new mount namespace: its own fixed paths and kernel-setting files, then COMMAND."""
    own = Path("/run") / name / "host-paths"
    for path in FIXED_PATHS:
        path.mkdir(parents=True, exist_ok=True)
        _run("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(path))
    (own / "sysctl").mkdir(parents=True, exist_ok=True)
    for key in KUBELET_SYSCTLS:
        source = Path("/proc/sys") / key
        copy = own / "sysctl" / key.replace("/", ".")
        copy.write_text(source.read_text())
        _run("mount", "--bind", str(copy), str(source))
    os.execvp(command[0], command)  # noqa: S606 (the command given on our command line)


def node_environment(name: str, with_clients: bool) -> dict[str, str]:
    node_bin = _build("build-node.sh")
    images = _build("build-images.sh")
    network_policies = _build("build-network-policies.sh")
    _build("build-helm.sh")  # the chart's tests run helm (tests/unit/test_chart.py, tests/e2e/test_helm.py)
    env = {
        ENV_NETNS: name, ENV_NODE_IP: NODE_IP, ENV_NODE_BIN: str(node_bin), ENV_IMAGES: str(images),
        ENV_NETWORK_POLICIES: str(network_policies),
    }  # fmt: skip
    if with_clients:
        env[ENV_CLIENTS] = str(_build("build-clients.sh"))
    return env


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.isolated", description=__doc__.splitlines()[0])
    parser.add_argument("--name", default=f"{PREFIX}{os.getpid()}", help="the network namespace's name")
    parser.add_argument("--keep", action="store_true", help="leave the namespace and what runs in it")
    parser.add_argument(
        "--with-clients", action="store_true", help="build the client libraries of the client test (as root)"
    )
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    if args.inside:
        try:
            return inside(args.name, command)
        except IsolationError as err:
            print(f"error: cannot set up the test bed's mount namespace: {err}", file=sys.stderr)
            return 1
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            print(f"error: {NO_ROOT} (CI=true: the real node is required)", file=sys.stderr)
            return 1
        print(NO_ROOT, file=sys.stderr)
        return subprocess.call(command)
    try:
        check_name(args.name)
        reap_orphans()
        if (NETNS_DIR / args.name).exists():
            raise IsolationError(f"network namespace {args.name} exists: a test bed runs there (make testbed-down)")
        env = {**os.environ, **node_environment(args.name, args.with_clients)}
    except IsolationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return _run_inside(args.name, command, env, args.keep)


def _run_inside(name: str, command: list[str], env: dict[str, str], keep: bool) -> int:
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int, _frame: object) -> None:
        # CI's timeout, a closed terminal: the command is told, and the namespace still goes.
        if child is None:
            raise SystemExit(128 + signum)
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    enter = [
        "nsenter", f"--net={NETNS_DIR / name}", "unshare", "--mount", "--propagation", "private", "--",
        sys.executable, "-m", "tests.testbed.isolated", "--inside", "--name", name, "--",
    ]  # fmt: skip
    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)}
    try:
        create(name)
        child = subprocess.Popen([*enter, *command], env=env)
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                pass  # the terminal sent Ctrl-C to the command too; it stops itself, then cleanup
    except IsolationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if not keep:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
            delete(name)


if __name__ == "__main__":
    sys.exit(main())
