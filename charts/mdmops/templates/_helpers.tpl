{{/* The chart's name, and the release's full name (63 characters at most: a DNS label). */}}
{{- define "mdmops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mdmops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "mdmops.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "mdmops.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "mdmops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mdmops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mdmops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mdmops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mdmops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mdmops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The plural of every kind, read from the generated CRDs so that a new kind needs no chart change.
A JSON list, for fromJsonArray.
*/}}
{{- define "mdmops.plurals" -}}
{{- $plurals := list }}
{{- range $path, $_ := .Files.Glob "crds/*.yaml" }}
{{- $plurals = append $plurals (fromYaml ($.Files.Get $path)).spec.names.plural }}
{{- end }}
{{- toJson (sortAlpha $plurals) }}
{{- end }}

{{/* What the controller may do with mdmops resources and secrets in the namespaces it watches. */}}
{{- define "mdmops.rules" -}}
{{- $plurals := fromJsonArray (include "mdmops.plurals" .) -}}
- apiGroups: [mdmops.io]
  resources: {{ toJson $plurals }}
  verbs: [get, list, watch, update, patch]
- apiGroups: [mdmops.io]
  resources: [{{ range $i, $p := $plurals }}{{ if $i }}, {{ end }}{{ $p }}/status{{ end }}]
  verbs: [update, patch]
- apiGroups: [mdmops.io]
  resources: [{{ range $i, $p := $plurals }}{{ if $i }}, {{ end }}{{ $p }}/finalizers{{ end }}]
  verbs: [update]
# Secret refs are read, never written. Watching all namespaces, Secrets are only read by name (a
# change is seen at the next resync): no cluster-wide list or watch of every Secret.
- apiGroups: [""]
  resources: [secrets]
  verbs: {{ if .Values.watchNamespaces }}[get, list, watch]{{ else }}[get]{{ end }}
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* The store is PostgreSQL (given as a URL or a Secret): nothing of it lives on the data volume. */}}
{{- define "mdmops.sharedStore" -}}
{{- if or .Values.store.existingSecret.name (hasPrefix "postgres" .Values.store.url) }}true{{ end }}
{{- end }}

{{/* The claim holding the data volume. */}}
{{- define "mdmops.claimName" -}}
{{- .Values.persistence.existingClaim | default (include "mdmops.fullname" .) }}
{{- end }}

{{/* The names the gateway certificate is made for: gateway.names, else the gateway Service's in-cluster names. */}}
{{- define "mdmops.gatewayNames" -}}
{{- if .Values.gateway.names -}}
{{ toYaml .Values.gateway.names }}
{{- else -}}
{{- $svc := printf "%s-gateway" (include "mdmops.fullname" .) -}}
- {{ $svc }}
- {{ printf "%s.%s.svc" $svc .Release.Namespace }}
- {{ printf "%s.%s.svc.cluster.local" $svc .Release.Namespace }}
{{- end -}}
{{- end -}}
