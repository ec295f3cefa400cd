"""kubemcsa's promise, fuzzed: whatever the kubeconfig holds and whatever the API server answers, every command
exits 0 or 1, says a failure in one line on stderr, never prints a traceback or the client's log lines, and never
prints a secret (the kubeconfig's token, a client key, what only a broken answer holds).

Structure-aware and deterministic (SEED): kubeconfigs are a working one (tests/unit/test_kubemcsa_fake_api.py)
broken one way at a time (wrong types, missing keys, bad base64, missing files, exec plugins that are missing or
fail, tokens with line breaks, huge values, files that are not UTF-8, empty, or a directory...), and the fake API
breaks the answer to one request, or all from it (error statuses, not JSON, wrong JSON, truncated bodies, closed
connections, slow answers, not HTTP...), for every command. Most cases run kubemcsa in this process; a few run it
as a program, to see that nothing else reaches the real stderr.
"""

import base64
import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap import cli, kube

from .test_kubemcsa_fake_api import (
    FAULTS,
    HIDDEN_PEM,
    READ_TIMEOUT,
    SERVER_TOKEN,
    USER_TOKEN,
    FakeApi,
    Plan,
    Result,
    appears,
    argvs,
    exec_credential,
    fake_api,
    kubeconfig,
    mutate,
    plugin,
    prints,
    run,
    secrets_of,
)

SEED = 22
REPO = Path(__file__).resolve().parents[2]
COMMANDS = list(argvs(Path("k")))
#: Commands whose job is to print a token of the API server on stdout.
PRINTS_TOKENS = ("export", "export-kubeconfig", "export-renew", "token")
#: What kubemcsa's output never holds: a traceback, a log line of the Kubernetes client or urllib3, a warning.
NEVER = ("Traceback", "ERROR:", "WARNING:", "Warning:", "failed unexpectedly", 'File "')
MAX_LINE = 1000
#: The commands each broken kubeconfig is given: one of each (they differ in what they do with the API, which the
#: faults of the API reach in every variant).
ONE_OF_EACH = ("bootstrap", "rotate", "teardown", "doctor", "export", "token")
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class Env:
    api: FakeApi
    files: Path
    #: How many requests each command makes when nothing fails.
    requests: dict[str, int]


# -- kubeconfig breakers: each takes the working kubeconfig and returns what the file holds ------------------------
# (a mapping to write as YAML, raw bytes, DIRECTORY or MISSING)

DIRECTORY, MISSING = "directory", "missing"
Content = Any  # a mapping or list to write as YAML, bytes, DIRECTORY or MISSING
Breaker = Callable[[dict[str, Any], Env, random.Random], Content]


def _clusters(config: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Each cluster with fields set (None: removed)."""
    for entry in config["clusters"]:
        for key, value in fields.items():
            entry["cluster"].pop(key, None)
            if value is not None:
                entry["cluster"][key] = value
    return config


def _servers(config: dict[str, Any], servers: tuple[str, str]) -> dict[str, Any]:
    """The clusters with servers, one each."""
    for entry, server in zip(config["clusters"], servers, strict=True):
        entry["cluster"]["server"] = server
    return config


def _users(config: dict[str, Any], user: dict[str, Any]) -> dict[str, Any]:
    """Each user replaced by user."""
    for entry in config["users"]:
        entry["user"] = user
    return config


def _both_ca(config: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return _clusters(config, **{"certificate-authority": None, "certificate-authority-data": None, **fields})


def _file(env: Env, name: str, data: bytes, mode: int = 0o600) -> str:
    path = env.files / name
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


def _b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def _exec(code: str) -> Breaker:
    return lambda c, e, r: _users(c, {"exec": plugin(code)})


def _random(kind: str) -> Breaker:
    return lambda c, e, r: mutate(c, r, USER_TOKEN, kind)


def _raw(text: str) -> Breaker:
    return lambda c, e, r: text.encode()


# fmt: off
BREAKERS: dict[str, Breaker] = {
    "valid": lambda c, e, r: c,
    **{f"random-{kind}-{n}": _random(kind) for kind in ("wrong-type", "drop", "huge", "control") for n in range(3)},
    # files that are no kubeconfig
    "missing-file": lambda c, e, r: MISSING,
    "directory": lambda c, e, r: DIRECTORY,
    "empty": _raw(""),
    "only-dashes": _raw("---\n"),
    "not-utf8": lambda c, e, r: yaml.safe_dump(c).encode().replace(b"kind: Config", b"kind: Con\xff\xfeig"),
    "invalid-yaml": lambda c, e, r: yaml.safe_dump(c).encode() + f"\nusers: [{USER_TOKEN}\n".encode(),
    "tabs": lambda c, e, r: yaml.safe_dump(c).replace("  name", "\tname").encode(),
    "two-documents": lambda c, e, r: (yaml.safe_dump(c) + "---\n" + yaml.safe_dump(c)).encode(),
    "top-level-list": lambda c, e, r: [c],
    "top-level-string": _raw(f"{USER_TOKEN}\n"),
    "deep-nesting": _raw("clusters: " + "[" * 5000 + "]" * 5000 + "\n"),
    "binary-token": lambda c, e, r: yaml.safe_dump(c).replace(USER_TOKEN, f"!!binary {_b64(USER_TOKEN)}").encode(),
    "null-bytes": lambda c, e, r: yaml.safe_dump(c).encode().replace(b"kind:", b"ki\x00nd:"),
    "huge-comment": lambda c, e, r: b"# " + b"x" * 2_000_000 + b"\n" + yaml.safe_dump(c).encode(),
    # sections and contexts
    "contexts-not-list": lambda c, e, r: {**c, "contexts": {"c1": c["contexts"][0]}},
    "users-null": lambda c, e, r: {**c, "users": None},
    "no-current-context": lambda c, e, r: {k: v for k, v in c.items() if k != "current-context"},
    "current-context-missing": lambda c, e, r: {**c, "current-context": "nope"},
    "current-context-number": lambda c, e, r: {**c, "current-context": 5},
    "duplicate-contexts": lambda c, e, r: {**c, "contexts": c["contexts"] * 2},
    "context-not-mapping": lambda c, e, r: {**c, "contexts": [{**x, "context": "c1"} for x in c["contexts"]]},
    "context-names-missing-cluster": lambda c, e, r: {**c, "clusters": []},
    "context-names-missing-user": lambda c, e, r: {**c, "users": []},
    "cluster-not-mapping": lambda c, e, r: {**c, "clusters": [{**x, "cluster": [1]} for x in c["clusters"]]},
    "cluster-name-invalid": lambda c, e, r: yaml.safe_dump(c).replace("c1", "C1_!").replace("c2", "C2_!").encode(),
    # certificate authorities
    "ca-data-not-base64": lambda c, e, r: _both_ca(c, **{"certificate-authority-data": "not base64 at all!"}),
    "ca-data-not-pem": lambda c, e, r: _both_ca(c, **{"certificate-authority-data": _b64(HIDDEN_PEM)}),
    "ca-data-broken-pem": lambda c, e, r: _both_ca(
        c, **{"certificate-authority-data": _b64("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")}
    ),
    "ca-data-other-ca": lambda c, e, r: _both_ca(
        c, **{"certificate-authority-data": _b64(e.api.keys.other_ca.cert_pem)}
    ),
    "ca-file-missing": lambda c, e, r: _both_ca(c, **{"certificate-authority": str(e.files / "no-such-ca.crt")}),
    "ca-file-directory": lambda c, e, r: _both_ca(c, **{"certificate-authority": str(e.files)}),
    "ca-file-not-pem": lambda c, e, r: _both_ca(
        c, **{"certificate-authority": _file(e, "ca-not-pem.crt", HIDDEN_PEM.encode())}
    ),
    "ca-file-unreadable": lambda c, e, r: _both_ca(
        c, **{"certificate-authority": _file(e, "ca-unreadable.crt", e.api.keys.ca.cert_pem, 0o000)}
    ),
    "insecure": lambda c, e, r: _both_ca(c, **{"insecure-skip-tls-verify": True}),
    "insecure-other-ca": lambda c, e, r: _servers(_both_ca(c, **{"insecure-skip-tls-verify": True}), e.api.other_ca),
    "insecure-string": lambda c, e, r: _clusters(c, **{"insecure-skip-tls-verify": "true"}),
    # servers
    "server-other-ca": lambda c, e, r: _servers(c, e.api.other_ca),
    "server-plain-http-port": lambda c, e, r: _servers(c, tuple(p.replace("http:", "https:") for p in e.api.plain)),
    "server-http": lambda c, e, r: _servers(c, e.api.plain),
    "server-refused": lambda c, e, r: _servers(c, _closed_ports()),
    "server-no-scheme": lambda c, e, r: _clusters(c, server=e.api.target.removeprefix("https://")),
    "server-bad-port": lambda c, e, r: _clusters(c, server="https://127.0.0.1:99999"),
    "server-userinfo": lambda c, e, r: _clusters(c, server=e.api.target.replace("//", f"//fuzz:{USER_TOKEN}@")),
    "server-space": lambda c, e, r: _clusters(c, server=e.api.target + " /api"),
    "server-missing": lambda c, e, r: _clusters(c, server=None),
    "server-number": lambda c, e, r: _clusters(c, server=6443),
    # users
    "token-newline": lambda c, e, r: _users(c, {"token": f"{USER_TOKEN}\nX-Injected: 1"}),
    "token-trailing-newline": lambda c, e, r: _users(c, {"token": f"{USER_TOKEN}\n"}),
    "token-non-ascii": lambda c, e, r: _users(c, {"token": f"{USER_TOKEN}é"}),
    "token-huge": lambda c, e, r: _users(c, {"token": USER_TOKEN * 4000}),
    "token-list": lambda c, e, r: _users(c, {"token": [USER_TOKEN]}),
    "token-file-missing": lambda c, e, r: _users(c, {"tokenFile": str(e.files / "no-such-token")}),
    "token-file-directory": lambda c, e, r: _users(c, {"tokenFile": str(e.files)}),
    "token-file-line-break": lambda c, e, r: _users(c, {"tokenFile": _file(e, "token", f"{USER_TOKEN}\n".encode())}),
    "token-file-not-utf8": lambda c, e, r: _users(
        c, {"tokenFile": _file(e, "token-bin", b"\xff\xfe" + USER_TOKEN.encode())}
    ),
    "basic-auth": lambda c, e, r: _users(c, {"username": "admin", "password": USER_TOKEN}),
    "client-key-not-base64": lambda c, e, r: _users(c, {"client-certificate-data": _b64(e.api.keys.client.cert_pem),
                                                        "client-key-data": "%%%"}),
    "client-cert-without-key": lambda c, e, r: _users(c, {"client-certificate-data": _b64(e.api.keys.client.cert_pem)}),
    "client-key-mismatch": lambda c, e, r: _users(c, {"client-certificate-data": _b64(e.api.keys.client.cert_pem),
                                                      "client-key-data": _b64(e.api.keys.other_client.key_pem)}),
    "client-key-is-cert": lambda c, e, r: _users(c, {"client-certificate-data": _b64(e.api.keys.client.cert_pem),
                                                     "client-key-data": _b64(e.api.keys.client.cert_pem)}),
    "client-cert-file-missing": lambda c, e, r: _users(c, {"client-certificate": str(e.files / "none.crt"),
                                                           "client-key": str(e.files / "none.key")}),
    "user-not-mapping": lambda c, e, r: _users(c, USER_TOKEN),
    "auth-provider-junk": lambda c, e, r: _users(c, {"auth-provider": USER_TOKEN}),
    # exec credential plugins
    "exec-ok": _exec(prints(exec_credential({"token": USER_TOKEN}))),
    "exec-missing": lambda c, e, r: _users(c, {"exec": {**plugin(""), "command": "kubemcsa-fuzz-no-such-plugin",
                                                        "args": []}}),
    "exec-fails": _exec(f"echo {USER_TOKEN} >&2; exit 3"),
    "exec-prints-garbage": _exec(f"echo {USER_TOKEN}"),
    "exec-prints-nothing": _exec("true"),
    "exec-no-token": _exec(prints(exec_credential({"nothing": 1}))),
    "exec-token-newline": _exec(prints(exec_credential({"token": f"{USER_TOKEN}\nX-Injected: 1"}))),
    "exec-token-null": _exec(prints(exec_credential({"token": None}))),
    "exec-wrong-api-version": _exec(prints({**exec_credential({"token": USER_TOKEN}), "apiVersion": "v9"})),
    "exec-no-status": _exec(prints({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"})),
    "exec-status-string": _exec(prints(exec_credential(USER_TOKEN))),
    "exec-bad-expiry": _exec(prints(exec_credential({"token": USER_TOKEN, "expirationTimestamp": "soon"}))),
    "exec-expired": _exec(prints(exec_credential({"token": USER_TOKEN, "expirationTimestamp": "2001-01-01T00:00:00Z"})
                                 )),
    "exec-cert-without-key": _exec(prints(exec_credential({"clientCertificateData": "x"}))),
    "exec-cert-junk": _exec(prints(exec_credential({"clientCertificateData": HIDDEN_PEM,
                                                    "clientKeyData": HIDDEN_PEM}))),
    "exec-not-executable": lambda c, e, r: _users(c, {"exec": {**plugin(""), "args": [],
                                                               "command": _file(e, "plugin.sh", b"#!/bin/sh\n")}}),
    "exec-is-directory": lambda c, e, r: _users(c, {"exec": {**plugin(""), "args": [], "command": str(e.files)}}),
    "exec-no-command": lambda c, e, r: _users(c, {"exec": {"apiVersion": "client.authentication.k8s.io/v1"}}),
    "exec-args-not-list": lambda c, e, r: _users(c, {"exec": {**plugin(""), "args": USER_TOKEN}}),
    "exec-env-junk": lambda c, e, r: _users(c, {"exec": {**plugin("true"), "env": [USER_TOKEN]}}),
}
# fmt: on


#: The broken kubeconfigs that kubemcsa takes all the same (as kubectl does).
WORK = frozenset({
    "valid", "huge-comment", "insecure", "token-trailing-newline", "token-file-line-break", "basic-auth", "exec-ok",
    "exec-expired",
})  # fmt: skip
#: What kubemcsa says of some broken kubeconfigs: the cause, in words.
SAYS = {
    "missing-file": "it does not exist",
    "directory": "it is a directory",
    "empty": "it is empty",
    "not-utf8": "it is not UTF-8 text",
    "invalid-yaml": "it is not valid YAML (line ",
    "top-level-string": "it is not a kubeconfig",
    "duplicate-contexts": "it has 2 contexts named",
    "ca-data-not-base64": 'the certificate-authority-data of cluster "c',
    "ca-data-other-ca": "does not verify with the kubeconfig's certificate authority",
    "server-other-ca": "does not verify with the kubeconfig's certificate authority",
    "ca-file-missing": "no-such-ca.crt",
    "server-refused": "refused the connection",
    "server-plain-http-port": "does not speak TLS",
    "server-userinfo": "holds a user name or password",
    "token-newline": "holds a line break",
    "token-file-missing": "no-such-token",
    "client-key-mismatch": "cannot be used (not PEM, encrypted, or not a pair)",
    "exec-missing": 'the credential plugin "kubemcsa-fuzz-no-such-plugin" of user "u',
    "exec-fails": "failed (exit code 3)",
    "exec-prints-garbage": "printed no JSON ExecCredential",
    "exec-no-token": "printed an ExecCredential without a token",
    "exec-not-executable": "may not be run (permission denied)",
    "exec-token-null": "401",
}


def _closed_ports() -> tuple[str, str]:
    """Two URLs of loopback ports where nothing listens (bound together, so that they differ)."""
    with socket.socket() as one, socket.socket() as two:
        one.bind(("127.0.0.1", 0))
        two.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{one.getsockname()[1]}", f"https://127.0.0.1:{two.getsockname()[1]}"


def write(content: Content, path: Path) -> None:
    if content == DIRECTORY:
        path.mkdir()
    elif content == MISSING:
        pass
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(yaml.dump(content, Dumper=DUMPER))


# -- cases ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    command: str
    breaker: str
    fault: str | None
    seed: str

    @property
    def id(self) -> str:
        return f"{self.command}:{self.breaker}:{self.fault or '-'}:{self.seed}"


def cases() -> list[Case]:
    """Each command with each way of breaking the kubeconfig, and with each fault of the API; then random mixes."""
    found = [Case(command, breaker, None, "0") for command in ONE_OF_EACH for breaker in BREAKERS]
    for command in COMMANDS:
        for fault in FAULTS:
            found += [Case(command, "valid", fault, str(n)) for n in range(8 if fault == "200-mutated" else 1)]
    rng = random.Random(SEED)
    randoms = [b for b in BREAKERS if b.startswith("random")]
    found += [Case(rng.choice(COMMANDS), rng.choice(randoms), rng.choice(list(FAULTS)), f"mix{n}") for n in range(30)]
    return found


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    files = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as patch, fake_api(files) as api:
        patch.setattr(kube, "REQUEST_TIMEOUT", (5.0, READ_TIMEOUT))
        path = files / "baseline"
        path.write_text(yaml.safe_dump(kubeconfig(api)))
        requests = {}
        for command, argv in argvs(path).items():
            api.reset(Plan())
            assert run(argv).code == 0, command
            requests[command] = api.count
        yield Env(api, files, requests)


def check(result: Result, command: str, secrets: dict[str, str]) -> None:
    """The promise: exit 0 or 1, a failure in one line on stderr, no traceback, no secret."""
    assert result.code in (0, 1), result
    text = result.out + result.err
    for never in NEVER:
        assert never not in text, result
    lines = result.err.splitlines()
    assert all(len(line) <= MAX_LINE for line in lines), result
    if result.code == 1 and (lines or command != "doctor"):
        assert len(lines) == 1 and lines[0].startswith("error: ") and result.err.endswith("\n"), result
    elif result.code == 1:  # doctor found problems, and said them on stdout
        assert re.search(r"\d+ problem\(s\) found\n$", result.out), result
    else:
        notes = 1 if command.startswith("export") else 0
        assert len(lines) == notes and all(line.startswith("note: ") for line in lines), result
    for name, secret in secrets.items():
        assert not appears(secret, result.err), f"{name} on stderr: {result}"
        assert not appears(secret, result.out), f"{name} on stdout: {result}"
    if not (result.code == 0 and command in PRINTS_TOKENS):
        assert not appears(SERVER_TOKEN, text), f"the API server's token printed: {result}"
    assert not appears(SERVER_TOKEN, result.err)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_kubemcsa_fuzz(env: Env, tmp_path: Path, case: Case) -> None:
    rng = random.Random(f"{SEED}-{case.id}")
    path = tmp_path / "kubeconfig"
    write(BREAKERS[case.breaker](kubeconfig(env.api), env, rng), path)
    at = rng.randrange(env.requests[case.command])
    env.api.reset(Plan(case.fault, at, persistent=rng.random() < 0.3, admission_policy=rng.random() < 0.7))
    result = run(argvs(path)[case.command])
    check(result, case.command, secrets_of(env.api.keys))
    if case.fault is None and case.breaker in WORK:
        assert result.code == 0, result
    if case.fault is None and case.breaker in SAYS:
        assert result.code == 1 and SAYS[case.breaker] in result.err, result


# -- as a program: nothing else reaches the real stderr (the client's log lines, urllib3's warnings) ----------------

AS_PROGRAM = [
    Case("doctor", "exec-missing", None, "program"),
    Case("bootstrap", "ca-data-other-ca", None, "program"),
    Case("doctor", "server-refused", None, "program"),
    Case("token", "valid", "closed", "program"),
    Case("export", "valid", "500-not-json", "program"),
    Case("doctor", "insecure", None, "program"),
    Case("export", "exec-ok", None, "program"),
]


@pytest.mark.parametrize("case", AS_PROGRAM, ids=lambda c: c.id)
def test_kubemcsa_as_a_program(env: Env, tmp_path: Path, case: Case) -> None:
    path = tmp_path / "kubeconfig"
    write(BREAKERS[case.breaker](kubeconfig(env.api), env, random.Random(case.id)), path)
    env.api.reset(Plan(case.fault, 0, persistent=True))
    done = subprocess.run(
        [sys.executable, "-m", "bootstrap.cli", *argvs(path)[case.command]], cwd=REPO,
        env={k: v for k, v in os.environ.items() if k != "KUBECONFIG"}, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    check(Result(done.returncode, done.stdout, done.stderr), case.command, secrets_of(env.api.keys))
    if case.fault is None and case.breaker in WORK:
        assert done.returncode == 0, done
    else:
        assert done.returncode == 1 and done.stderr.startswith("error: "), done


def test_an_unknown_flag_is_said_with_the_usage_of_its_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bootstrap.cli", "rotate", "c1", "c2", "--no-such-flag"], cwd=REPO,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "usage: kubemcsa rotate [flags] [TARGET SOURCE]",
        "kubemcsa rotate: error: unrecognized arguments: --no-such-flag",
    ]


def test_an_unexpected_error_is_one_line_naming_its_type_never_its_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(args: object) -> int:
        raise RuntimeError(f"a message that quotes {USER_TOKEN}")

    monkeypatch.setattr(cli, "run", fail)
    result = run(["doctor"])
    assert result.code == 1 and result.out == ""
    [line] = result.err.splitlines()
    assert line.startswith("error: kubemcsa failed unexpectedly (RuntimeError in bootstrap/cli.py line ")
    assert line.endswith("please report it at https://github.com/admiraltyio/multicluster-service-account/issues "
                         "with the command you ran")  # fmt: skip
    assert USER_TOKEN not in result.err


@pytest.mark.parametrize("command", ["bootstrap", "rotate", "teardown", "doctor", "export", "token"])
def test_the_kubeconfig_help_says_what_the_code_reads(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: $KUBECONFIG, else ~/.kube/config)" in text
    if command in cli.COMMANDS:
        assert "kubeconfig of the source cluster (default: --kubeconfig's)" in text
