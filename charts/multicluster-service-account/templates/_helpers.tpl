{{/*
Object names are fixed, not derived from the release name: the hooks, the certificate step (hooks/certify.py)
and kubemcsa use them, and the webhook configuration and the CompositeController are cluster-wide, so one
cluster holds one install.
*/}}

{{/* The namespace every namespaced object goes to; any other release namespace is refused. */}}
{{- define "mcsa.namespace" -}}
{{- if ne .Release.Namespace "multicluster-service-account" -}}
{{- fail (printf "install this chart in namespace multicluster-service-account (helm install ... --namespace multicluster-service-account --create-namespace), not %q: kubemcsa writes the cluster credentials there and the hooks read them there" .Release.Namespace) -}}
{{- end -}}
{{- .Release.Namespace -}}
{{- end -}}

{{/* Helm's labels, on every object's metadata (not on pods: a pod template's labels must not change
with the chart's version). */}}
{{- define "mcsa.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/*
An object's metadata. Arguments (a dict): root (the chart's context), name, namespaced (bool), labels and
annotations (the object's own, optional). The object's own labels win over commonLabels, Helm's over both.
*/}}
{{- define "mcsa.metadata" -}}
{{- $root := .root -}}
metadata:
  name: {{ .name }}
  {{- if .namespaced }}
  namespace: {{ include "mcsa.namespace" $root }}
  {{- end }}
  {{- $labels := merge (fromYaml (include "mcsa.helmLabels" $root)) (.labels | default dict) (deepCopy ($root.Values.commonLabels | default dict)) }}
  labels:
    {{- toYaml $labels | nindent 4 }}
  {{- $annotations := merge (.annotations | default dict) (deepCopy ($root.Values.commonAnnotations | default dict)) }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* A pod template's metadata: its own labels (the selector's), then podLabels; podAnnotations. */}}
{{- define "mcsa.podMetadata" -}}
metadata:
  labels:
    {{- toYaml (merge (dict "app.kubernetes.io/name" .name) (deepCopy (.root.Values.podLabels | default dict))) | nindent 4 }}
  {{- with .root.Values.podAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: the digest pins it; the tag defaults to appVersion. */}}
{{- define "mcsa.image" -}}
{{- $image := .image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (toString ($image.tag | default .root.Chart.AppVersion)) -}}
{{- end -}}
{{- end -}}

{{/* Scheduling and pull secrets of every pod of the chart, in a pod spec. */}}
{{- define "mcsa.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The certificate Job's name: at the release's first revision, the kustomize install's; then one Job per
revision, since a Job's pod template cannot change (an upgrade to another image would fail) and each
upgrade runs the step again. */}}
{{- define "mcsa.certificateJobName" -}}
multicluster-service-account-certificates{{ if gt (int .Release.Revision) 1 }}-{{ .Release.Revision }}{{ end }}
{{- end -}}

{{/* The settings as MCSA_* variables, those set only. */}}
{{- define "mcsa.settingsEnv" -}}
{{- $names := dict
  "logLevel" "MCSA_LOG_LEVEL"
  "workers" "MCSA_WORKERS"
  "threads" "MCSA_THREADS"
  "renewFraction" "MCSA_RENEW_FRACTION"
  "renewMarginSeconds" "MCSA_RENEW_MARGIN_SECONDS"
  "remoteTimeoutSeconds" "MCSA_REMOTE_TIMEOUT_SECONDS"
  "retryMinSeconds" "MCSA_RETRY_MIN_SECONDS"
  "retryMaxSeconds" "MCSA_RETRY_MAX_SECONDS"
-}}
{{- range $key := keys $names | sortAlpha }}
{{- $value := index $.Values.settings $key }}
{{- if not (kindIs "invalid" $value) }}
- name: {{ index $names $key }}
  value: {{ toString $value | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The certificate step's pod (the Job's and the CronJob's). */}}
{{- define "mcsa.certifyPod" -}}
{{ include "mcsa.podMetadata" (dict "root" . "name" "multicluster-service-account-certificates") }}
spec:
  serviceAccountName: multicluster-service-account-certificates
  restartPolicy: OnFailure
  enableServiceLinks: false
  {{- with include "mcsa.podScheduling" . | trim }}
  {{- nindent 2 . }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  containers:
    - name: certify
      image: {{ include "mcsa.image" (dict "root" . "image" .Values.image) }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: [python, -m, hooks.certify]
      resources:
        {{- toYaml .Values.certificates.resources | nindent 8 }}
      securityContext:
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities:
          drop: [ALL]
      volumeMounts:
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: tmp
      emptyDir:
        medium: Memory
        sizeLimit: 8Mi
{{- end -}}
