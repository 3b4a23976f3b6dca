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
