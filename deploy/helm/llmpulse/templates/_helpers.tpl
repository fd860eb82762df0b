{{- define "llmpulse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llmpulse.fullname" -}}
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

{{- define "llmpulse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "llmpulse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "worker") */}}
{{- define "llmpulse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llmpulse.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "llmpulse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llmpulse.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image of a component: (dict "root" $ "image" .Values.scorer.image) */}}
{{- define "llmpulse.image" -}}
{{- $image := merge (deepCopy (default dict .image)) .root.Values.image }}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) }}
{{- end }}

{{- define "llmpulse.secretName" -}}
{{- printf "%s-env" (include "llmpulse.fullname" .) }}
{{- end }}

{{- define "llmpulse.checks" -}}
{{- $partitions := int .Values.kafka.partitions }}
{{- if not .Values.kafka.brokers }}
{{- fail "kafka.brokers is required (LLMPULSE_BROKER)" }}
{{- end }}
{{- if and .Values.autoscaling.keda.enabled .Values.autoscaling.hpa.enabled }}
{{- fail "enable at most one of autoscaling.keda and autoscaling.hpa" }}
{{- end }}
{{- if gt (int .Values.worker.replicas) $partitions }}
{{- fail (printf "worker.replicas (%d) is more than kafka.partitions (%d): the extra workers would get no partition" (int .Values.worker.replicas) $partitions) }}
{{- end }}
{{- if and (or .Values.autoscaling.keda.enabled .Values.autoscaling.hpa.enabled) (gt (int .Values.autoscaling.maxReplicas) $partitions) }}
{{- fail (printf "autoscaling.maxReplicas (%d) is more than kafka.partitions (%d): the extra workers would get no partition" (int .Values.autoscaling.maxReplicas) $partitions) }}
{{- end }}
{{- if and (or .Values.autoscaling.keda.enabled .Values.autoscaling.hpa.enabled) (lt (int .Values.autoscaling.minReplicas) 1) }}
{{- fail "autoscaling.minReplicas must be at least 1: the lag metric comes from the workers" }}
{{- end }}
{{- $security := .Values.kafka.security }}
{{- if not (has $security.protocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) }}
{{- fail (printf "kafka.security.protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, not %s" $security.protocol) }}
{{- end }}
{{- $oauth := and (hasPrefix "SASL_" $security.protocol) (eq $security.saslMechanism "OAUTHBEARER") }}
{{- if and (hasPrefix "SASL_" $security.protocol) (not $oauth) (or (not $security.saslUsername) (not $security.passwordSecret)) }}
{{- fail (printf "kafka.security.protocol %s needs kafka.security.saslUsername and kafka.security.passwordSecret" $security.protocol) }}
{{- end }}
{{- if and $oauth (or (not $security.oauth.tokenUrl) (not $security.oauth.clientId) (not $security.oauth.clientSecretSecret)) }}
{{- fail "kafka.security.saslMechanism OAUTHBEARER needs kafka.security.oauth.tokenUrl, clientId and clientSecretSecret" }}
{{- end }}
{{- if and $security.oauth.caSecret (not (hasPrefix "https://" (toString $security.oauth.tokenUrl))) }}
{{- fail "kafka.security.oauth.caSecret needs an https:// kafka.security.oauth.tokenUrl" }}
{{- end }}
{{- if and (not (hasSuffix "SSL" $security.protocol)) (or $security.caSecret $security.clientCertSecret) }}
{{- fail (printf "kafka.security.caSecret and clientCertSecret need a TLS protocol (SSL or SASL_SSL), not %s" $security.protocol) }}
{{- end }}
{{- if and .Values.otlp.enabled (not .Values.kafka.otlpTopic) }}
{{- fail "otlp.enabled needs kafka.otlpTopic (e.g. otlp_spans): the topic it publishes to and the workers read" }}
{{- end }}
{{- if and (not .Values.clickhouse.existingSecret) (not (hasPrefix "http" (toString .Values.clickhouse.url))) }}
{{- fail "clickhouse.url must be a ClickHouse server URL, http(s)://user:password@host:port/database (the embedded chdb store admits one process)" }}
{{- end }}
{{- end }}

{{/* The settings of the topics: all the topics Job gets. It runs before the chart's
     Secret exists, and a setting of `env` may need a secret (LLMPULSE_PII_*=hash). */}}
{{- define "llmpulse.topicEnv" -}}
- name: LLMPULSE_BROKER
  value: {{ .Values.kafka.brokers | quote }}
- name: LLMPULSE_APP_ID
  value: {{ .Values.appId | quote }}
- name: LLMPULSE_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: LLMPULSE_PARTITIONS
  value: {{ .Values.kafka.partitions | quote }}
- name: LLMPULSE_REPLICATION_FACTOR
  value: {{ .Values.kafka.replicationFactor | quote }}
- name: LLMPULSE_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if .Values.kafka.otlpTopic }}
- name: LLMPULSE_OTLP_TOPIC
  value: {{ .Values.kafka.otlpTopic | quote }}
{{- end }}
{{- include "llmpulse.kafkaSecurityEnv" . }}
{{- end }}

{{/* The Kafka TLS/SASL settings (every process that talks to Kafka). */}}
{{- define "llmpulse.kafkaSecurityEnv" -}}
{{- $security := .Values.kafka.security }}
{{- if ne $security.protocol "PLAINTEXT" }}
- name: LLMPULSE_KAFKA_SECURITY_PROTOCOL
  value: {{ $security.protocol | quote }}
{{- end }}
{{- if and (hasPrefix "SASL_" $security.protocol) (eq $security.saslMechanism "OAUTHBEARER") }}
{{- $oauth := $security.oauth }}
- name: LLMPULSE_KAFKA_SASL_MECHANISM
  value: OAUTHBEARER
- name: LLMPULSE_KAFKA_OAUTH_TOKEN_URL
  value: {{ $oauth.tokenUrl | quote }}
- name: LLMPULSE_KAFKA_OAUTH_CLIENT_ID
  value: {{ $oauth.clientId | quote }}
- name: LLMPULSE_KAFKA_OAUTH_CLIENT_SECRET_FILE
  value: /etc/llmpulse/kafka-oauth/client-secret
{{- if $oauth.scope }}
- name: LLMPULSE_KAFKA_OAUTH_SCOPE
  value: {{ $oauth.scope | quote }}
{{- end }}
{{- if $oauth.extensions }}
- name: LLMPULSE_KAFKA_OAUTH_EXTENSIONS
  value: {{ $oauth.extensions | quote }}
{{- end }}
{{- if $oauth.caSecret }}
- name: LLMPULSE_KAFKA_OAUTH_CA_FILE
  value: /etc/llmpulse/kafka-oauth-ca/ca.crt
{{- end }}
{{- else if hasPrefix "SASL_" $security.protocol }}
- name: LLMPULSE_KAFKA_SASL_MECHANISM
  value: {{ $security.saslMechanism | quote }}
- name: LLMPULSE_KAFKA_SASL_USERNAME
  value: {{ $security.saslUsername | quote }}
- name: LLMPULSE_KAFKA_SASL_PASSWORD_FILE
  value: /etc/llmpulse/kafka-sasl/password
{{- end }}
{{- if hasSuffix "SSL" $security.protocol }}
{{- if $security.caSecret }}
- name: LLMPULSE_KAFKA_SSL_CA_FILE
  value: /etc/llmpulse/kafka-ca/ca.crt
{{- end }}
{{- if $security.clientCertSecret }}
- name: LLMPULSE_KAFKA_SSL_CERT_FILE
  value: /etc/llmpulse/kafka-client/tls.crt
- name: LLMPULSE_KAFKA_SSL_KEY_FILE
  value: /etc/llmpulse/kafka-client/tls.key
{{- end }}
- name: LLMPULSE_KAFKA_SSL_CHECK_HOSTNAME
  value: {{ $security.checkHostname | toString | quote }}
{{- end }}
{{- end }}

{{/* Mounts of the Kafka secrets (read-only files). */}}
{{- define "llmpulse.kafkaSecurityMounts" -}}
{{- $security := .Values.kafka.security }}
{{- if and (hasPrefix "SASL_" $security.protocol) (eq $security.saslMechanism "OAUTHBEARER") }}
- name: kafka-oauth
  mountPath: /etc/llmpulse/kafka-oauth
  readOnly: true
{{- if $security.oauth.caSecret }}
- name: kafka-oauth-ca
  mountPath: /etc/llmpulse/kafka-oauth-ca
  readOnly: true
{{- end }}
{{- else if hasPrefix "SASL_" $security.protocol }}
- name: kafka-sasl
  mountPath: /etc/llmpulse/kafka-sasl
  readOnly: true
{{- end }}
{{- if and (hasSuffix "SSL" $security.protocol) $security.caSecret }}
- name: kafka-ca
  mountPath: /etc/llmpulse/kafka-ca
  readOnly: true
{{- end }}
{{- if and (hasSuffix "SSL" $security.protocol) $security.clientCertSecret }}
- name: kafka-client
  mountPath: /etc/llmpulse/kafka-client
  readOnly: true
{{- end }}
{{- end }}

{{/* Volumes of the Kafka secrets. */}}
{{- define "llmpulse.kafkaSecurityVolumes" -}}
{{- $security := .Values.kafka.security }}
{{- if and (hasPrefix "SASL_" $security.protocol) (eq $security.saslMechanism "OAUTHBEARER") }}
- name: kafka-oauth
  secret:
    secretName: {{ $security.oauth.clientSecretSecret }}
    items:
      - key: {{ $security.oauth.clientSecretKey }}
        path: client-secret
{{- if $security.oauth.caSecret }}
- name: kafka-oauth-ca
  secret:
    secretName: {{ $security.oauth.caSecret }}
    items:
      - key: {{ $security.oauth.caSecretKey }}
        path: ca.crt
{{- end }}
{{- else if hasPrefix "SASL_" $security.protocol }}
- name: kafka-sasl
  secret:
    secretName: {{ $security.passwordSecret }}
    items:
      - key: {{ $security.passwordSecretKey }}
        path: password
{{- end }}
{{- if and (hasSuffix "SSL" $security.protocol) $security.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ $security.caSecret }}
    items:
      - key: {{ $security.caSecretKey }}
        path: ca.crt
{{- end }}
{{- if and (hasSuffix "SSL" $security.protocol) $security.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ $security.clientCertSecret }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- end }}

{{/* Settings of the worker and the scorer: the topics' and `env`. */}}
{{- define "llmpulse.commonEnv" -}}
{{ include "llmpulse.topicEnv" . }}
{{- range $name, $value := .Values.env }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}

{{/* Secrets as environment variables (worker and scorer). */}}
{{- define "llmpulse.envFrom" -}}
{{- if .Values.secretEnv }}
- secretRef:
    name: {{ include "llmpulse.secretName" . }}
{{- end }}
{{- if .Values.existingSecret }}
- secretRef:
    name: {{ .Values.existingSecret }}
{{- end }}
{{- end }}

{{/* Probes on the metrics port (named "metrics"). */}}
{{- define "llmpulse.probes" -}}
{{- if .Values.probes.enabled -}}
startupProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 5
  failureThreshold: 36
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
{{- end }}
{{- end }}
