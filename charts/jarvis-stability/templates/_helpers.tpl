{{/* Names and labels shared by the templates. */}}

{{- define "jarvis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-jarvis-stability, or the release name when it already holds the chart name. */}}
{{- define "jarvis.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "jarvis.operator.fullname" -}}{{ include "jarvis.fullname" . }}-operator{{- end -}}
{{- define "jarvis.gateway.fullname" -}}{{ include "jarvis.fullname" . }}-gateway{{- end -}}

{{- define "jarvis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "jarvis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: jarvis-stability
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component (operator or gateway). */}}
{{- define "jarvis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jarvis.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "jarvis.componentLabels" -}}
{{ include "jarvis.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "jarvis.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "jarvis.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create -}}
{{ default (include "jarvis.operator.fullname" .) .Values.operator.serviceAccount.name }}
{{- else -}}
{{ required "operator.serviceAccount.name is required when operator.serviceAccount.create is false" .Values.operator.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{- define "jarvis.gateway.serviceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create -}}
{{ default (include "jarvis.gateway.fullname" .) .Values.gateway.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.gateway.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{- define "jarvis.leaseName" -}}
{{ default (include "jarvis.operator.fullname" .) .Values.operator.leaseName }}
{{- end -}}

{{/* The Gateway the gateways serve, as NAMESPACE/NAME. */}}
{{- define "jarvis.gatewayRef" -}}
{{ default .Release.Namespace .Values.gateway.gatewayRef.namespace }}/{{ .Values.gateway.gatewayRef.name }}
{{- end -}}

{{/* The Secret and key holding the Redis URL; empty when there is no Redis. */}}
{{- define "jarvis.redisSecret" -}}
{{- if .Values.gateway.redis.existingSecret -}}
{{ .Values.gateway.redis.existingSecret }}
{{- else if .Values.gateway.redis.url -}}
{{ include "jarvis.gateway.fullname" . }}-redis
{{- end -}}
{{- end -}}

{{/* topologySpreadConstraints of one component from its topologySpread values. */}}
{{- define "jarvis.topologySpread" -}}
{{- $spread := .values -}}
{{- range $spread.topologyKeys }}
- maxSkew: {{ $spread.maxSkew }}
  topologyKey: {{ . }}
  whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- include "jarvis.selectorLabels" (dict "root" $.root "component" $.component) | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The operator's rules on namespaced objects (ClusterRole, or Role with watchNamespace). */}}
{{- define "jarvis.operator.namespacedRules" -}}
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways, httproutes]
  verbs: [list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [gateways/status, httproutes/status]
  verbs: [patch]
- apiGroups: [""]
  resources: [services]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
- apiGroups: [stability.jarvis.io]
  resources: [ratelimitpolicies, queuepolicies, circuitbreakerpolicies, degradationpolicies, cachepolicies, clientidentitypolicies]
  verbs: [list, watch]
- apiGroups: [stability.jarvis.io]
  resources:
    - ratelimitpolicies/status
    - queuepolicies/status
    - circuitbreakerpolicies/status
    - degradationpolicies/status
    - cachepolicies/status
    - clientidentitypolicies/status
  verbs: [patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- if .Values.operator.identitySecrets }}
# ClientIdentityPolicy keys: the operator lists and watches only Secrets labelled
# stability.jarvis.io/identity (RBAC cannot narrow by label); no get, no write.
- apiGroups: [""]
  resources: [secrets]
  verbs: [list, watch]
{{- end }}
{{- end -}}
