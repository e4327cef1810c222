{{/* Names, labels and the checks that span several values. */}}

{{- define "ordo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>", or the release name alone when it already contains the chart name. */}}
{{- define "ordo.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects are shared by every release: the namespace keeps two releases of
the same name apart. */}}
{{- define "ordo.clusterName" -}}
{{- printf "%s-%s" .Release.Namespace (include "ordo.fullname" .) }}
{{- end }}

{{- define "ordo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ordo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "ordo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ordo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: gitops-agent
{{- end }}

{{- define "ordo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "ordo.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name: name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "ordo.leaseName" -}}
{{- default (include "ordo.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/* The number of shards of apps (one per replica) when sharding is on, else empty. */}}
{{- define "ordo.shards" -}}
{{- if and .Values.leaderElection.enabled .Values.leaderElection.sharding (gt (int .Values.replicas) 1) }}
{{- int .Values.replicas }}
{{- end }}
{{- end }}

{{- define "ordo.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the API token / webhook secret: the user's, or the chart's. */}}
{{- define "ordo.apiTokenSecret" -}}
{{- default (printf "%s-api-token" (include "ordo.fullname" .)) .Values.apiToken.existingSecret }}
{{- end }}

{{- define "ordo.webhookSecretName" -}}
{{- default (printf "%s-webhook" (include "ordo.fullname" .)) .Values.webhookSecret.existingSecret }}
{{- end }}

{{- define "ordo.gitSecretName" -}}
{{- $root := index . 0 }}{{- $cred := index . 1 }}
{{- default (printf "%s-git-%s" (include "ordo.fullname" $root) $cred.name) $cred.existingSecret }}
{{- end }}

{{/* Where the files ordo reads are mounted. */}}
{{- define "ordo.configDir" -}}/etc/ordo{{- end }}
{{- define "ordo.gitDir" -}}/etc/ordo-git{{- end }}

{{/*
Checks the schema cannot express; each failure names the value to change. Included by the
Deployment so every render runs it once.
*/}}
{{- define "ordo.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicas: %d replicas need leaderElection.enabled: true (two agents syncing the same apps would fight)" (int .Values.replicas)) }}
{{- end }}
{{- $names := dict }}
{{- range $i, $app := .Values.config.apps }}
{{- if hasKey $names $app.name }}
{{- fail (printf "config.apps[%d].name: %q is used by another app too" $i $app.name) }}
{{- end }}
{{- $_ := set $names $app.name true }}
{{- end }}
{{- if and .Values.rbac.create (eq .Values.rbac.scope "namespaced") }}
{{- if not .Values.rbac.namespaces }}
{{- fail "rbac.namespaces: list the namespaces ordo may manage when rbac.scope is namespaced" }}
{{- end }}
{{- range $i, $app := .Values.config.apps }}
{{- if not (has $app.namespace $.Values.rbac.namespaces) }}
{{- fail (printf "config.apps[%d].namespace: %q is not in rbac.namespaces %v; ordo could not write the app's objects or state there" $i $app.namespace $.Values.rbac.namespaces) }}
{{- end }}
{{- end }}
{{- end }}
{{- $creds := dict }}
{{- range $i, $cred := .Values.gitCredentials }}
{{- if hasKey $creds $cred.name }}
{{- fail (printf "gitCredentials[%d].name: %q is used by another entry too" $i $cred.name) }}
{{- end }}
{{- $_ := set $creds $cred.name true }}
{{- end }}
{{- end }}
