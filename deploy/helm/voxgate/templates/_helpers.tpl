{{/* Names and labels shared by every template. */}}

{{- define "voxgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "voxgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "voxgate.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "voxgate.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "voxgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "voxgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "voxgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "voxgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "voxgate.redisName" -}}
{{- printf "%s-valkey" (include "voxgate.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The state URL every replica uses: the chart's Valkey, or the external one. */}}
{{- define "voxgate.stateEnv" -}}
{{- if .Values.redis.enabled }}
- name: VOXGATE_STATE_URL
  value: {{ printf "redis://%s:6379/0" (include "voxgate.redisName" .) | quote }}
{{- else if .Values.externalRedis.existingSecret }}
- name: VOXGATE_STATE_URL
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.secretKey }}
{{- else if .Values.externalRedis.url }}
- name: VOXGATE_STATE_URL
  value: {{ .Values.externalRedis.url | quote }}
{{- else if gt (int .Values.replicaCount) 1 }}
{{- fail "more than one replica needs shared state: set redis.enabled or externalRedis" }}
{{- end }}
{{- end -}}

{{- define "voxgate.apiKeySecret" -}}
{{- default (printf "%s-api-keys" (include "voxgate.fullname" .)) .Values.apiKeys.existingSecret -}}
{{- end -}}
