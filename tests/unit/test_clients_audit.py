"""The client test's reading of cluster2's audit log: which token (by ID) each client's call presented."""

import json
from pathlib import Path

from tests.testbed.clients import Call, audited_calls


def event(label: str, jti: str, namespace: str = "renewal", code: int = 200) -> str:
    return json.dumps(
        {
            "stage": "ResponseComplete",
            "objectRef": {"namespace": namespace, "resource": "pods"},
            "requestURI": f"/api/v1/namespaces/{namespace}/pods?labelSelector=mcsa-client%3D{label}&limit=500",
            "user": {"extra": {"authentication.kubernetes.io/credential-id": [f"JTI={jti}"]}},
            "requestReceivedTimestamp": "2026-12-04T08:00:00.500000Z",
            "responseStatus": {"code": code},
        }
    )


def test_calls_by_client_label_with_their_token_ids(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    lines = [event("python", "a"), event("kube-rs", "b", code=401), event("python", "c", namespace="other")]
    other_selector = event("python", "d").replace("mcsa-client%3D", "app%3D")
    # The API server may be writing the last line: it is left for the next read.
    log.write_text("\n".join([*lines, other_selector]) + "\n" + event("python", "e")[:50])
    assert audited_calls(log, "renewal") == {
        "python": [Call(1796371200.5, "a", 200)],
        "kube-rs": [Call(1796371200.5, "b", 401)],
    }
