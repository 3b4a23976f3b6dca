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
