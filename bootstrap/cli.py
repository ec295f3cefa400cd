"""kubemcsa: let clusters import each other's service accounts.

Errors are one line (`error: cannot …: cause (hint)`) and exit code 1; usage errors exit 2, with the usage of
the command. Whatever the kubeconfig holds or the API server answers, no traceback: an error kubemcsa did not
expect is one line too, naming its type (never its message, which could quote a secret) and where to report it.
"""

import argparse
import logging
import os
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from hooks import addresses, contract, names
from hooks.kubeconfig import ClusterEndpoint
from hooks.policy import SYSTEM_NAMESPACES, Policy
from hooks.sync import MIN_EXPIRATION_SECONDS

from . import clusterprofile, steps
from . import doctor as doctor_module
from . import export as export_module
from .kube import Cluster, CommandError, connect, one_line

PAIR_EXAMPLES = """
examples:
  # cluster1 imports service accounts from cluster2 (both are contexts of your kubeconfig)
  kubemcsa {command} cluster1 cluster2

  # the same with flags, contexts of two kubeconfig files, and names other than the kubeconfig's
  kubemcsa {command} --target-kubeconfig ~/.kube/one --target-context admin@one --target-name cluster1 \\
      --source-kubeconfig ~/.kube/two --source-context admin@two --source-name cluster2
"""

COMMANDS = {
    "bootstrap": (
        "allow TARGET to import service accounts of SOURCE",
        "In SOURCE: namespace multicluster-service-account, a service account named after TARGET that may only\n"
        "get service accounts and create their tokens (in every namespace, or those given with --namespace),\n"
        "and a long-lived token for it (or, with --credential-expiration, one that expires). In TARGET: the\n"
        "cluster credential Secret that the hooks use. Idempotent: a second run changes nothing and says so.",
    ),
    "rotate": (
        "replace TARGET's credential for SOURCE; the old one stops working",
        "Makes a new token for TARGET's importer in SOURCE (of the kind bootstrap made: long-lived, or expiring\n"
        "after the same --credential-expiration), puts it in TARGET's cluster credential Secret, and deletes the\n"
        "old tokens (or the Secrets they are bound to), which then fail with 401.",
    ),
    "teardown": (
        "remove everything bootstrap made for TARGET and SOURCE",
        "Deletes the cluster credential Secret in TARGET and the importer's service account, tokens and bindings\n"
        "in SOURCE (and the importer cluster role when no other cluster uses it). The old credential fails with 401.",
    ),
}


def _pair_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    parser.add_argument("target", metavar="TARGET", nargs="?", help="context of the cluster that imports")
    parser.add_argument("source", metavar="SOURCE", nargs="?", help="context of the cluster imported from")
    parser.add_argument(
        "--kubeconfig", type=Path, help="kubeconfig of both clusters (default: $KUBECONFIG, else ~/.kube/config)"
    )
    for role in ("target", "source"):
        parser.add_argument(f"--{role}-context", help=f"context of the {role} cluster")
        parser.add_argument(
            f"--{role}-kubeconfig", type=Path, help=f"kubeconfig of the {role} cluster (default: --kubeconfig's)"
        )
        parser.add_argument(
            f"--{role}-name", help=f"name of the {role} cluster (default: the kubeconfig's name for its cluster)"
        )
    if command in ("bootstrap", "rotate"):
        parser.add_argument(
            "--source-server", metavar="URL",
            help="the source's API server URL as the target cluster reaches it, when that differs from your "
            "kubeconfig's (e.g. kind: https://cluster2-control-plane:6443); rotate keeps the one bootstrap wrote",
        )  # fmt: skip
    if command in ("bootstrap", "rotate"):
        parser.add_argument(
            "--credential-expiration", metavar="DURATION",
            help="give the importer a token from the TokenRequest API that expires after DURATION (e.g. 90d, at "
            "least 10m; renew it with rotate) instead of a long-lived token Secret"
            + ("; default: the kind bootstrap made" if command == "rotate" else ""),
        )  # fmt: skip
    if command in ("bootstrap", "teardown"):
        parser.add_argument(
            "--cluster-profile", metavar="NAMESPACE",
            help="publish (teardown: withdraw) the access provider \"multicluster-service-account\" in the "
            "ClusterProfile NAMESPACE/SOURCE-NAME of TARGET (SIG Multicluster's cluster inventory API; the "
            "ClusterProfile is created if missing): see docs/clusterprofile.md",
        )  # fmt: skip
    if command == "bootstrap":
        policy_flags = parser.add_argument_group(
            "policy",
            "Written on TARGET's cluster credential Secret (annotations an admin may also edit with kubectl);\n"
            "each run sets exactly the policy its flags give.",
        )
        policy_flags.add_argument(
            "--allow-namespace", action="append", dest="allow_namespaces", metavar="NAMESPACE",
            help="only this namespace of TARGET may import from SOURCE (repeatable; default: all)",
        )  # fmt: skip
        policy_flags.add_argument(
            "--require-consent", action="store_true",
            help="a service account of SOURCE is importable only if it carries the annotation "
            f"{contract.IMPORTABLE_BY_ANNOTATION}=TARGET-NAME/NAMESPACE",
        )  # fmt: skip
        policy_flags.add_argument(
            "--max-expiration", metavar="DURATION", help="cap on the token lifetime imports get (e.g. 1h, 24h)"
        )
        policy_flags.add_argument(
            "--allow-remote-namespace", action="append", dest="allow_remote_namespaces", metavar="NAMESPACE",
            help=f"let imports reach this system namespace of SOURCE ({', '.join(sorted(SYSTEM_NAMESPACES))}: "
            "off limits by default, since they hold the cluster's own identities; --namespace opens those it names)",
        )  # fmt: skip
        policy_flags.add_argument(
            "--allow-audience", action="append", dest="allow_audiences", metavar="AUDIENCE",
            help="an audience imports may ask for (repeatable; default: any)",
        )  # fmt: skip
        parser.add_argument(
            "-n", "--namespace", action="append", dest="namespaces", default=[], metavar="NAMESPACE",
            help="only allow tokens of service accounts in NAMESPACE of SOURCE (repeatable; default: all)",
        )  # fmt: skip


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--context and --kubeconfig, for the commands that work on one cluster."""
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--kubeconfig", type=Path, help="kubeconfig (default: $KUBECONFIG, else ~/.kube/config)")
    parser.set_defaults(parser=parser)


def _cluster(args: argparse.Namespace, role: str, parser: argparse.ArgumentParser) -> Cluster:
    positional, flag = getattr(args, role), getattr(args, f"{role}_context")
    if positional and flag:
        parser.error(f"give the {role} context once: as {role.upper()} or as --{role}-context")
    context = positional or flag
    if not context:
        parser.error(f"the {role} cluster is required: {role.upper()} or --{role}-context")
    kubeconfig = getattr(args, f"{role}_kubeconfig") or args.kubeconfig
    return connect(kubeconfig, context, getattr(args, f"{role}_name"), role)


def _version() -> str:
    try:
        return metadata.version("kubemcsa")
    except metadata.PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kubemcsa",
        description="Let pods of one Kubernetes cluster call the API of another, as its service accounts.",
        epilog="Run `kubemcsa COMMAND --help` for a command's flags and examples.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command, (summary, description) in COMMANDS.items():
        sub = commands.add_parser(
            command, help=summary, description=description, epilog=PAIR_EXAMPLES.format(command=command),
            usage="%(prog)s [flags] [TARGET SOURCE]",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )  # fmt: skip
        _pair_arguments(sub, command)
        sub.set_defaults(parser=sub)

    export = commands.add_parser(
        "export",
        usage="%(prog)s [flags] NAME",
        help="print a Secret, or a kubeconfig, for a service account of this cluster",
        description="Prints (YAML) a Secret in the imported-Secret format for service account NAME, with a\n"
        "token from the TokenRequest API, to apply by hand in another cluster; or, with -o kubeconfig, a\n"
        "kubeconfig. Their token is not renewed (a note on stderr says when it expires), except with\n"
        "-o kubeconfig --renew: that kubeconfig holds no token but runs `kubemcsa token` with your credentials\n"
        "for this cluster whenever its clients need a new one.",
        epilog="examples:\n"
        "  kubemcsa export pod-lister -n default --context cluster2 --as cluster2-default-pod-lister \\\n"
        "      | kubectl --context cluster1 apply -f -\n"
        "  kubemcsa export pod-lister --expiration 24h\n"
        "  kubemcsa export pod-lister -n default --context cluster2 -o kubeconfig --renew > pod-lister.kubeconfig",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("name", metavar="NAME", help="service account name")
    export.add_argument("-n", "--namespace", default="default", help="service account namespace (default: default)")
    export.add_argument("--as", dest="export_name", help="import name in the other cluster (default: NAME)")
    export.add_argument("--expiration", help="token lifetime, e.g. 1h, 24h (default: the API server's, 1h)")
    export.add_argument(
        "--server", metavar="URL", help="the API server URL as the other cluster reaches it (default: the kubeconfig's)"
    )
    export.add_argument(
        "-o", "--output", choices=("secret", "kubeconfig"), default="secret", help="what to print (default: secret)"
    )
    export.add_argument(
        "--renew", action="store_true", help="with -o kubeconfig: renew the token with `kubemcsa token` (on PATH)"
    )
    _cluster_arguments(export)

    token = commands.add_parser(
        "token",
        usage="%(prog)s [flags] NAME",
        help="print an ExecCredential with a new token for a service account of this cluster",
        description="Prints (JSON) a client.authentication.k8s.io ExecCredential with a new token for service\n"
        "account NAME, expiring a minute before the token does: the credential plugin that a kubeconfig made by\n"
        "`kubemcsa export -o kubeconfig --renew` runs.",
    )
    token.add_argument("name", metavar="NAME", help="service account name")
    token.add_argument("-n", "--namespace", default="default", help="service account namespace (default: default)")
    token.add_argument("--expiration", help="token lifetime, e.g. 1h, 24h (default: the API server's, 1h)")
    _cluster_arguments(token)

    doctor = commands.add_parser(
        "doctor",
        help="check the cluster credentials and imports of a cluster",
        description="For each cluster credential of the cluster: does the remote API answer, is the credential\n"
        "valid, what may it do. For each ServiceAccountImport: its Ready condition. Exits 1 if anything is wrong.",
        epilog="examples:\n  kubemcsa doctor --context cluster1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _cluster_arguments(doctor)
    return parser


def _check_url(url: str | None, flag: str) -> None:
    if url and not url.startswith("https://"):
        raise CommandError(f'invalid {flag} "{url}"', "it must be an https:// URL")
    if url and (what := addresses.blocked(urlsplit(url).hostname or "")):
        raise CommandError(f'invalid {flag} "{url}": the address is in {what}', "give the API server's address")


def _policy(args: argparse.Namespace) -> Policy:
    for namespace in args.allow_namespaces or []:
        if not names.is_dns1123_label(namespace) and namespace != "*":
            raise CommandError(f'invalid --allow-namespace "{namespace}"', "give a namespace name")
    for namespace in args.allow_remote_namespaces or []:
        if namespace not in SYSTEM_NAMESPACES:
            raise CommandError(
                f'invalid --allow-remote-namespace "{namespace}"',
                f"only {', '.join(sorted(SYSTEM_NAMESPACES))} are off limits; other namespaces need no opening",
            )
    return Policy(
        allowed_namespaces=frozenset(args.allow_namespaces) if args.allow_namespaces else None,
        allowed_remote_namespaces=frozenset(args.allow_remote_namespaces or ()),
        require_consent=args.require_consent,
        max_expiration_seconds=export_module.parse_duration(args.max_expiration) if args.max_expiration else None,
        allowed_audiences=frozenset(args.allow_audiences) if args.allow_audiences else None,
    )


def say(text: str) -> None:
    print(text, flush=True)


def run(args: argparse.Namespace) -> int:
    if args.command in COMMANDS:
        profiles = getattr(args, "cluster_profile", None)
        if profiles is not None and not names.is_dns1123_label(profiles):
            raise CommandError(f"--cluster-profile {profiles!r} is not a namespace name", "give a namespace of TARGET")
        target, source = _cluster(args, "target", args.parser), _cluster(args, "source", args.parser)
        if target.endpoint.server == source.endpoint.server:
            raise CommandError(
                f'cannot {args.command} cluster "{target.name}" with itself ({target.endpoint.server})',
                "give two different clusters",
            )
        server = getattr(args, "source_server", None)
        _check_url(server, "--source-server")
        raw_expiration = getattr(args, "credential_expiration", None)
        expiration = export_module.parse_duration(raw_expiration) if raw_expiration else None
        if args.command == "bootstrap":
            if profiles:
                clusterprofile.require_api(target)
            steps.bootstrap(target, source, args.namespaces, say, server, _policy(args), expiration)
            if profiles:
                endpoint = ClusterEndpoint(server, source.endpoint.ca_pem) if server else source.endpoint
                clusterprofile.publish(target, source.name, profiles, endpoint, say)
        elif args.command == "rotate":
            steps.rotate(target, source, say, server, expiration)
        else:
            if profiles:
                clusterprofile.withdraw(target, source.name, profiles, say)
            steps.teardown(target, source, say)
        return 0
    cluster = connect(args.kubeconfig, args.context, None, "")
    if args.command == "export":
        return _export(args, cluster)
    if args.command == "token":
        expiration = export_module.parse_duration(args.expiration) if args.expiration else None
        token, expires = export_module.request_token(cluster, args.namespace, args.name, expiration)
        print(export_module.exec_credential(token, expires))
        return 0
    return 0 if doctor_module.doctor(cluster, say) else 1


def _export(args: argparse.Namespace, cluster: Cluster) -> int:
    expiration = export_module.parse_duration(args.expiration) if args.expiration else None
    _check_url(args.server, "--server")
    export_name = args.export_name or args.name
    where = (cluster, args.namespace, args.name, export_name, expiration, args.server)
    if args.renew:
        if args.output != "kubeconfig":
            raise CommandError("--renew renews the token of a kubeconfig, not of a Secret", "add -o kubeconfig")
        kubeconfig = export_module.pinned_kubeconfig(args.kubeconfig)
        # One token now, not printed: a service account that does not exist, or a context that may not make
        # its tokens, is said here rather than by every client later.
        export_module.request_token(cluster, args.namespace, args.name, MIN_EXPIRATION_SECONDS)
        sys.stdout.write(export_module.renewing_kubeconfig(cluster, kubeconfig, *where[1:]))
        print(
            f'note: the kubeconfig runs `kubemcsa token` with context "{cluster.context}" of {kubeconfig} whenever '
            "its clients need a new token: keep kubemcsa on PATH and that context's access to the cluster",
            file=sys.stderr,
        )
        return 0
    if args.output == "kubeconfig":
        text, expires = export_module.export_kubeconfig(*where)
        sys.stdout.write(text)
        print(export_module.not_renewed_note(expires, "the kubeconfig"), file=sys.stderr)
        return 0
    text, expires = export_module.export(*where)
    sys.stdout.write(text)
    print(export_module.not_renewed_note(expires, "the Secret"), file=sys.stderr)
    return 0


#: Where to report a failure kubemcsa did not expect.
ISSUES = "https://github.com/admiraltyio/multicluster-service-account/issues"


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments; a usage error is said with the usage of the command it is about (exit 2)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args


def _where(err: BaseException) -> str:
    """The innermost line of kubemcsa's own code in err's traceback: "bootstrap/steps.py line 12"."""
    frames = traceback.extract_tb(err.__traceback__)
    ours = [f for f in frames if Path(f.filename).parent.name in ("bootstrap", "hooks", "kubemcsa", "_hooks")]
    if not (ours or frames):
        return ""
    frame = (ours or frames)[-1]
    return f" in {Path(frame.filename).parent.name}/{Path(frame.filename).name} line {frame.lineno}"


@contextmanager
def quiet() -> Iterator[None]:
    """Keep the Kubernetes client's log lines (ERROR:root:..., urllib3's retry warnings) and Python warnings
    (urllib3's InsecureRequestWarning) off stderr: kubemcsa says what failed, in one line."""
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.removeHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    with quiet():
        try:
            return run(args)
        except CommandError as err:
            print(f"error: {one_line(str(err))}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:  # e.g. `kubemcsa export ... | head -1`: what reads the output is gone
            try:  # and Python's last flush of stdout at exit would say so with a traceback
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError):  # a stdout without a file descriptor
                pass
            return 1
        except Exception as err:  # the last resort: one line, never the message, which may quote secrets
            print(
                f"error: kubemcsa failed unexpectedly ({type(err).__name__}{_where(err)}); please report it at "
                f"{ISSUES} with the command you ran",
                file=sys.stderr,
            )
            return 1


if __name__ == "__main__":
    sys.exit(main())
