"""Every user-facing name of the project, defined once.

These strings are the contract kept with the seed (admiraltyio/multicluster-service-account): changing
one breaks existing imports, pods or bootstrapped clusters.
"""

from typing import Final

GROUP: Final = "multicluster.admiralty.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "ServiceAccountImport"
PLURAL: Final = "serviceaccountimports"

#: Label on each imported Secret; the annotation on pods that asks for imports (comma-separated).
IMPORT_NAME_KEY: Final = f"{GROUP}/service-account-import.name"
#: Opt-in pod annotation: "true" sets KUBECONFIG to the mounted configs in containers without one.
KUBECONFIG_ENV_ANNOTATION: Final = f"{GROUP}/service-account-import.kubeconfig-env"
#: Label on a namespace whose pods the webhook may mutate.
NAMESPACE_OPT_IN_LABEL: Final = "multicluster-service-account"
NAMESPACE_OPT_IN_VALUE: Final = "enabled"

#: Label of the cluster credential Secret, valued with the remote cluster's name.
CLUSTER_NAME_LABEL: Final = f"{GROUP}/cluster-name"
#: Namespace of the cluster credential Secrets (and of the installation).
CREDENTIALS_NAMESPACE: Final = "multicluster-service-account"
#: Key of the credential Secret's kubeconfig for the importer identity in the remote cluster.
CREDENTIAL_CONFIG_KEY: Final = "config"

#: Data keys of an imported Secret. `config` is the seed's kubeconfig: its user has the token inline and as
#: `tokenFile`, which client-go, kubectl and fabric8 follow across renewals.
CONFIG_KEY: Final = "config"
#: The same kubeconfig whose user runs the credential plugin instead (no inline token): the clients that read a
#: token once (the official Python, JavaScript, Rust and Java clients) re-run it and follow renewals.
EXEC_CONFIG_KEY: Final = "exec-config"
TOKEN_KEY: Final = "token"
CA_KEY: Final = "ca.crt"
NAMESPACE_KEY: Final = "namespace"
SERVER_KEY: Final = "server"

#: Annotations the sync hook keeps on each imported Secret to decide when to renew its token.
TOKEN_ISSUED_AT_ANNOTATION: Final = f"{GROUP}/token-issued-at"
TOKEN_EXPIRES_AT_ANNOTATION: Final = f"{GROUP}/token-expiration-timestamp"
TOKEN_SOURCE_ANNOTATION: Final = f"{GROUP}/token-source"

SECRET_TYPE: Final = "Opaque"
MOUNT_ROOT: Final = "/var/run/secrets/admiralty.io/serviceaccountimports"
#: Where pods that mount imports find the credential plugin (an emptyDir that an init container fills from the
#: plugin's image), and the plugin; `exec-config` runs it with `--token-file <mount>/token`.
CREDENTIAL_PLUGIN_DIR: Final = "/var/run/secrets/admiralty.io/bin"
CREDENTIAL_PLUGIN: Final = f"{CREDENTIAL_PLUGIN_DIR}/mcsa-credential"
#: The name of the init container that installs the plugin, and of its volume.
CREDENTIAL_PLUGIN_NAME: Final = "mcsa-credential-plugin"
#: The ExecCredential version the plugin answers in `exec-config` (Kubernetes 1.22 and later).
EXEC_CREDENTIAL_API_VERSION: Final = "client.authentication.k8s.io/v1"
KUBECONFIG_ENV: Final = "KUBECONFIG"

#: Policy annotations of a cluster credential Secret (set by `kubemcsa bootstrap`, editable with kubectl).
#: Namespaces of this cluster that may import from that cluster (comma-separated; absent: all).
ALLOWED_NAMESPACES_ANNOTATION: Final = f"{GROUP}/allowed-namespaces"
#: "true": a remote service account is importable only if it consents (IMPORTABLE_BY_ANNOTATION).
REQUIRE_CONSENT_ANNOTATION: Final = f"{GROUP}/require-consent"
#: This cluster's name as the remote cluster's service accounts name it in their consent.
IMPORTING_CLUSTER_ANNOTATION: Final = f"{GROUP}/importing-cluster"
#: Longest token lifetime an import may ask for, in seconds (longer requests are clamped).
MAX_EXPIRATION_ANNOTATION: Final = f"{GROUP}/max-expiration-seconds"
#: Audiences an import may ask for (comma-separated; absent: any).
ALLOWED_AUDIENCES_ANNOTATION: Final = f"{GROUP}/allowed-audiences"
#: System namespaces of the remote cluster (kube-system, kube-public, kube-node-lease) that imports may
#: reach (comma-separated; absent: none of them).
ALLOWED_REMOTE_NAMESPACES_ANNOTATION: Final = f"{GROUP}/allowed-remote-namespaces"
#: On a cluster credential Secret whose importer token expires: the lifetime kubemcsa asked for, in seconds
#: (`kubemcsa rotate` asks for the same).
CREDENTIAL_EXPIRATION_ANNOTATION: Final = f"{GROUP}/credential-expiration-seconds"
#: On a remote service account: who may import it, e.g. "cluster1/default,cluster1/team-a" ("cluster1"
#: or "cluster1/*": any namespace of cluster1).
IMPORTABLE_BY_ANNOTATION: Final = f"{GROUP}/importable-by"
