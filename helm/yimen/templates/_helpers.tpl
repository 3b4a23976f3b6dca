{{/* Names, labels and the pieces every yimen pod shares. */}}

{{- define "yimen.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's base name; resources are "<fullname>-<service>", so keep room for the suffix. */}}
{{- define "yimen.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "yimen.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Kubernetes recommended labels. Call with (dict "root" $ "component" "intake"). */}}
{{- define "yimen.labels" -}}
helm.sh/chart: {{ include "yimen.chart" .root }}
{{ include "yimen.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Values.image.tag | default .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: yimen
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "yimen.selectorLabels" -}}
app.kubernetes.io/name: {{ include "yimen.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "yimen.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "yimen.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "yimen.secretName" -}}
{{- default (include "yimen.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{- define "yimen.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The enabled services' names, sorted, comma-separated: "dispatch,intake". */}}
{{- define "yimen.enabledServices" -}}
{{- $names := list }}
{{- range $name, $svc := .Values.services }}
{{- if $svc.enabled }}{{ $names = append $names $name }}{{ end }}
{{- end }}
{{- join "," $names }}
{{- end }}

{{/* Restricted pod security (Pod Security Standards "restricted"); the image's user is 10001. */}}
{{- define "yimen.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "yimen.containerSecurityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: [ALL]
{{- end }}

{{/* The database and broker URLs every yimen process needs, from the Secret. */}}
{{- define "yimen.secretEnv" -}}
- name: YIMEN__DATABASE__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "yimen.secretName" . }}
      key: YIMEN__DATABASE__URL
- name: YIMEN__BUS__URL
  valueFrom:
    secretKeyRef:
      name: {{ include "yimen.secretName" . }}
      key: YIMEN__BUS__URL
{{- end }}

{{/* The Secret holding jwks.json: the chart's own or auth.existingSecret. */}}
{{- define "yimen.authSecretName" -}}
{{- default (printf "%s-auth" (include "yimen.fullname" .)) .Values.auth.existingSecret }}
{{- end }}

{{/* The ConfigMap holding policy.json, or nothing when the binary's built-in policy applies. */}}
{{- define "yimen.authPolicyConfigMapName" -}}
{{- if .Values.auth.existingPolicyConfigMap }}
{{- .Values.auth.existingPolicyConfigMap }}
{{- else if .Values.auth.policy }}
{{- printf "%s-auth-policy" (include "yimen.fullname" .) }}
{{- end }}
{{- end }}

{{/* Where the token settings point every service: the files of the "auth" volume. */}}
{{- define "yimen.authEnv" -}}
- name: YIMEN__AUTH__VERIFY_KEYS_FILE
  value: /etc/yimen/auth/jwks.json
{{- if include "yimen.authPolicyConfigMapName" . }}
- name: YIMEN__AUTH__POLICY_FILE
  value: /etc/yimen/auth/policy.json
{{- end }}
- name: YIMEN__AUTH__ISSUER
  value: {{ .Values.auth.issuer | quote }}
- name: YIMEN__AUTH__AUDIENCE
  value: {{ .Values.auth.audience | quote }}
- name: YIMEN__AUTH__LEEWAY_SECS
  value: {{ int .Values.auth.leewaySecs | quote }}
{{- end }}

{{/* jwks.json and policy.json side by side in one read-only directory, /etc/yimen/auth/. */}}
{{- define "yimen.authVolume" -}}
- name: auth
  projected:
    sources:
      - secret:
          name: {{ include "yimen.authSecretName" . }}
          items:
            - key: jwks.json
              path: jwks.json
      {{- with include "yimen.authPolicyConfigMapName" . }}
      - configMap:
          name: {{ . }}
          items:
            - key: policy.json
              path: policy.json
      {{- end }}
{{- end }}

{{/*
TLS from Secrets (tls.*): the settings as variables, the mounts and the volumes. With `server`
true (the Deployments), the gRPC server's certificate and client CA too; the migration Job needs
only the database's and the broker's.
*/}}
{{- define "yimen.tlsEnv" -}}
{{- $t := .root.Values.tls }}
{{- if and .server $t.serverSecret }}
- name: YIMEN__SERVER__TLS__CERT_FILE
  value: /etc/yimen/tls/server/tls.crt
- name: YIMEN__SERVER__TLS__KEY_FILE
  value: /etc/yimen/tls/server/tls.key
{{- if $t.clientCaSecret }}
- name: YIMEN__SERVER__TLS__CLIENT_CA_FILE
  value: /etc/yimen/tls/client-ca/ca.crt
{{- end }}
{{- end }}
{{- if $t.busSecret }}
- name: YIMEN__BUS__TLS__CA_FILE
  value: /etc/yimen/tls/bus/ca.crt
{{- if $t.busClientCertificate }}
- name: YIMEN__BUS__TLS__CERT_FILE
  value: /etc/yimen/tls/bus/tls.crt
- name: YIMEN__BUS__TLS__KEY_FILE
  value: /etc/yimen/tls/bus/tls.key
{{- end }}
{{- end }}
{{- end }}

{{- define "yimen.tlsSecrets" -}}
{{- $t := .root.Values.tls }}
{{- $secrets := dict }}
{{- if .server }}
{{- with $t.serverSecret }}{{ $_ := set $secrets "server" . }}{{ end }}
{{- with $t.clientCaSecret }}{{ $_ := set $secrets "client-ca" . }}{{ end }}
{{- with $t.probeClientSecret }}{{ $_ := set $secrets "probe" . }}{{ end }}
{{- end }}
{{- with $t.databaseCaSecret }}{{ $_ := set $secrets "database" . }}{{ end }}
{{- with $t.busSecret }}{{ $_ := set $secrets "bus" . }}{{ end }}
{{- toJson $secrets }}
{{- end }}

{{- define "yimen.tlsMounts" -}}
{{- range $name, $_ := fromJson (include "yimen.tlsSecrets" .) }}
- name: tls-{{ $name }}
  mountPath: /etc/yimen/tls/{{ $name }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "yimen.tlsVolumes" -}}
{{- range $name, $secret := fromJson (include "yimen.tlsSecrets" .) }}
- name: tls-{{ $name }}
  secret:
    secretName: {{ $secret }}
{{- end }}
{{- end }}

{{/*
A probe of one service (dict root, name, port, probe: liveness|readiness): gRPC's own when the
server is plaintext; over TLS, `yimen healthcheck` in the pod, trusting the server's CA, checking
the Service's name and, under mTLS, presenting the probe's certificate.
*/}}
{{- define "yimen.probe" -}}
{{- $t := .root.Values.tls }}
{{- if $t.serverSecret }}
exec:
  command:
    - /usr/local/bin/yimen
    - healthcheck
    - --target
    - {{ .name }}
    - --probe
    - {{ .probe }}
    - --addr
    - https://127.0.0.1:{{ .port }}
    - --server-name
    - {{ include "yimen.fullname" .root }}-{{ .name }}
    - --ca-file
    - /etc/yimen/tls/server/ca.crt
    {{- if $t.clientCaSecret }}
    - --cert-file
    - /etc/yimen/tls/probe/tls.crt
    - --key-file
    - /etc/yimen/tls/probe/tls.key
    {{- end }}
{{- else }}
grpc:
  port: {{ .port }}
  {{- if eq .probe "readiness" }}
  service: readiness
  {{- end }}
{{- end }}
{{- end }}

{{/* The Secret holding data.json: the chart's own or security.existingSecret. */}}
{{- define "yimen.securitySecretName" -}}
{{- default (printf "%s-data-keys" (include "yimen.fullname" .)) .Values.security.existingSecret }}
{{- end }}

{{/* The services that keep sealed personal data, and so are given the data keys. */}}
{{- define "yimen.sealingServices" -}}
intake mediation
{{- end }}

{{/* Where the data key settings point a sealing service: the file of the "data-keys" volume. */}}
{{- define "yimen.securityEnv" -}}
- name: YIMEN__SECURITY__DATA_KEY_FILE
  value: /etc/yimen/keys/data.json
- name: YIMEN__SECURITY__ALGORITHM
  value: {{ .Values.security.algorithm | quote }}
{{- end }}

{{/*
What `yimen migrate --departments` is given: builtin, the mounted file, or nothing (source none,
or dispatch not enabled). A file source needs its text or a ConfigMap.
*/}}
{{- define "yimen.departmentsArg" -}}
{{- $d := .Values.departments }}
{{- if and (ne $d.source "none") .Values.services.dispatch.enabled }}
{{- if eq $d.source "builtin" }}builtin
{{- else if or $d.file $d.existingConfigMap }}/etc/yimen/departments/departments.toml
{{- else }}
{{- fail "departments.source is file but neither departments.file nor departments.existingConfigMap is set" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding departments.toml for the migration Job: the chart's own or existingConfigMap. */}}
{{- define "yimen.departmentsConfigMapName" -}}
{{- default (printf "%s-departments" (include "yimen.fullname" .)) .Values.departments.existingConfigMap }}
{{- end }}

{{/* A service's metrics port (dict root, service): its metricsPort, else metrics.port. */}}
{{- define "yimen.metricsPort" -}}
{{- int (default .root.Values.metrics.port .service.metricsPort) }}
{{- end }}

{{/*
The replicas a service keeps at the least (dict root, service): autoscaling's minReplicas when
it autoscales, else its replicas. What decides whether it gets a PodDisruptionBudget.
*/}}
{{- define "yimen.minReplicas" -}}
{{- $svc := fromJson (include "yimen.serviceSettings" .) }}
{{- if $svc.autoscaling.enabled }}{{ int $svc.autoscaling.minReplicas }}{{ else }}{{ int $svc.replicas }}{{ end }}
{{- end }}

{{/*
A service's settings (dict root, service) as JSON: its own keys over `defaults`, deep-merged.
`merge` takes a false for empty and lets the default's true win over it, so a service's own
`enabled: false` (autoscaling, topologySpread) is put back afterwards.
*/}}
{{- define "yimen.serviceSettings" -}}
{{- $svc := merge (deepCopy .service) (deepCopy .root.Values.defaults) }}
{{- range $section := list "autoscaling" "topologySpread" }}
{{- $own := get $.service $section }}
{{- if and (kindIs "map" $own) (hasKey $own "enabled") }}
{{- $_ := set (get $svc $section) "enabled" $own.enabled }}
{{- end }}
{{- end }}
{{- toJson $svc }}
{{- end }}
