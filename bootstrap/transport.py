"""What went wrong between kubemcsa and an API server, in words: a certificate that does not verify, a refused
connection, a timeout... Pure: it reads the exception chain of the HTTP client, never quotes what the server sent.
"""

import http.client
import ssl
from collections.abc import Iterator

import urllib3.exceptions

#: The hint of the failures that a wrong server URL, or a cluster that is down, explains.
CHECK_SERVER = "check the kubeconfig's server URL and that the cluster is up"
CHECK_CA = "check the cluster's certificate-authority(-data) in the kubeconfig, and that its server is the API server"


def causes(err: BaseException) -> Iterator[BaseException]:
    """err and what it wraps (urllib3's reason, the exceptions in its args, its cause and context), outer first."""
    seen: list[BaseException] = []
    queue: list[BaseException] = [err]
    while queue:
        current = queue.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        yield current
        reason = getattr(current, "reason", None)
        wrapped = [reason] if isinstance(reason, BaseException) else []
        wrapped += [a for a in current.args if isinstance(a, BaseException)]
        wrapped += [e for e in (current.__cause__, current.__context__) if e is not None]
        queue.extend(wrapped)


def _ssl_reason(err: ssl.SSLError) -> str:
    """OpenSSL's reason in words ("wrong version number"), without the file and line of _ssl.c."""
    reason = err.reason or ""
    text = str(err.args[1]) if len(err.args) > 1 else str(err)
    if "] " in text:
        text = text.split("] ", 1)[1]
    text = text.split(" (_ssl.c", 1)[0].strip()
    return text or reason.replace("_", " ").lower() or "TLS error"


def describe(err: BaseException, server: str, read_timeout: float | None = None) -> tuple[str, str]:
    """(what happened, what to do) for a transport error of a request to server (its URL)."""
    chain = list(causes(err))

    def find(*kinds: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kinds)), None)

    if isinstance(verify := find(ssl.SSLCertVerificationError), ssl.SSLCertVerificationError):
        detail = (verify.verify_message or "certificate verify failed").rstrip(".")
        return f"the certificate of {server} does not verify with the kubeconfig's certificate authority ({detail})", (
            CHECK_CA
        )
    if isinstance(tls := find(ssl.SSLError), ssl.SSLError):
        reason = _ssl_reason(tls)
        if "wrong version number" in reason or "record layer failure" in reason:
            return f"{server} does not speak TLS ({reason})", "is the server URL's port the API server's HTTPS port?"
        if isinstance(tls, ssl.SSLEOFError) or "EOF" in reason:
            return f"{server} closed the connection", CHECK_SERVER
        return f"the TLS handshake with {server} failed ({reason})", (
            "check the kubeconfig's server URL, certificate authority and client certificate"
        )
    if find(urllib3.exceptions.NameResolutionError) is not None:
        return f"the host name of {server} does not resolve", CHECK_SERVER
    if find(ConnectionRefusedError) is not None:
        return f"{server} refused the connection", CHECK_SERVER
    if find(urllib3.exceptions.ReadTimeoutError) is not None:
        within = f" within {read_timeout:g} s" if read_timeout else " in time"
        return f"{server} did not answer{within}", "check that the cluster is up and not overloaded"
    # urllib3's NewConnectionError is a ConnectTimeoutError, whatever stopped the connection.
    timeouts = [e for e in chain if isinstance(e, urllib3.exceptions.ConnectTimeoutError | TimeoutError)]
    if any(not isinstance(e, urllib3.exceptions.NewConnectionError) for e in timeouts):
        return f"{server} did not accept the connection in time", CHECK_SERVER
    if find(urllib3.exceptions.NewConnectionError) is not None:
        cause = next((e for e in chain if isinstance(e, OSError) and e.strerror), None)
        reason = f" ({cause.strerror})" if isinstance(cause, OSError) else ""
        return f"kubemcsa cannot connect to {server}{reason}", CHECK_SERVER
    if find(urllib3.exceptions.ProxyError) is not None:
        return f"the proxy to {server} failed", "check the kubeconfig's proxy-url and $HTTPS_PROXY"
    if find(http.client.IncompleteRead) is not None:
        return f"{server} closed the connection in the middle of its answer", CHECK_SERVER
    if find(http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return f"{server} closed the connection without answering", CHECK_SERVER
    if find(urllib3.exceptions.LocationValueError) is not None:
        return f"the server URL {server} is not valid", "fix the cluster's server in the kubeconfig"
    if find(urllib3.exceptions.ProtocolError, http.client.HTTPException) is not None:
        return f"{server} did not answer in HTTP", CHECK_SERVER
    if isinstance(err, ValueError):  # the HTTP client refused the request itself (e.g. a header it cannot send)
        return f"kubemcsa cannot send its request to {server} ({type(err).__name__})", (
            "check the user of the kubeconfig's context"
        )
    innermost = chain[-1] if chain else err
    return f"{server} is unreachable ({type(innermost).__name__})", CHECK_SERVER
