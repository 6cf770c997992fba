{{/* Names ------------------------------------------------------------------------------- */}}
{{- define "todo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "todo.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<role>", kept within the 63 characters of a DNS label. */}}
{{- define "todo.roleName" -}}
{{- printf "%s-%s" (include "todo.fullname" .root | trunc (int (sub 62 (len .role))) | trimSuffix "-") .role -}}
{{- end -}}

{{- define "todo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "todo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "todo.secretName" -}}
{{- default (include "todo.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "todo.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Labels ------------------------------------------------------------------------------ */}}
{{- define "todo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "todo.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "todo.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "todo.selectorLabels" . }}
app.kubernetes.io/part-of: {{ include "todo.name" .root }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* Labels without a component, for objects that belong to the whole release. */}}
{{- define "todo.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "todo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Configuration ----------------------------------------------------------------------- */}}
{{/* The non-secret environment as a dict: the ConfigMap's data, and the hook Job's env (a
     pre-install hook runs before the ConfigMap exists). */}}
{{- define "todo.configEnv" -}}
{{- $c := .Values.config -}}
DJANGO_ENV: "production"
DEBUG: "false"
LOG_LEVEL: {{ $c.logLevel | quote }}
ALLOWED_HOSTS: {{ join "," $c.allowedHosts | quote }}
CSRF_TRUSTED_ORIGINS: {{ join "," $c.csrfTrustedOrigins | quote }}
PORT: {{ .Values.web.port | quote }}
FORWARDED_ALLOW_IPS: {{ $c.forwardedAllowIps | quote }}
SECURE_SSL_REDIRECT: {{ $c.secureSslRedirect | toString | quote }}
KAFKA_BOOTSTRAP_SERVERS: {{ $c.kafkaBootstrapServers | quote }}
KAFKA_TOPIC_PARTITIONS: {{ $c.kafkaTopicPartitions | quote }}
KAFKA_TOPIC_REPLICATION_FACTOR: {{ $c.kafkaTopicReplicationFactor | quote }}
{{- if $c.kafkaClientConfig }}
KAFKA_CLIENT_CONFIG: {{ $c.kafkaClientConfig | quote }}
{{- end }}
KAFKA_CREATE_TOPICS: {{ $c.createKafkaTopics | toString | quote }}
{{- /* A running relay Deployment LISTENs for each commit's NOTIFY: no Celery job per write. */}}
KAFKA_OUTBOX_CELERY_WAKEUP: {{ eq (int .Values.relay.replicas) 0 | toString | quote }}
EMAIL_BACKEND: {{ $c.emailBackend | quote }}
EMAIL_HOST: {{ $c.emailHost | quote }}
EMAIL_PORT: {{ $c.emailPort | quote }}
EMAIL_HOST_USER: {{ $c.emailHostUser | quote }}
EMAIL_USE_TLS: {{ $c.emailUseTls | toString | quote }}
DEFAULT_FROM_EMAIL: {{ $c.defaultFromEmail | quote }}
JWT_ISSUER: {{ $c.jwtIssuer | quote }}
JWT_AUDIENCE: {{ $c.jwtAudience | quote }}
JWT_JWKS_URL: {{ $c.jwtJwksUrl | quote }}
AUDIT_RETENTION_DAYS: {{ $c.auditRetentionDays | quote }}
{{- range $name, $value := $c.extraEnv }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Pods -------------------------------------------------------------------------------- */}}
{{/* Environment of every long-running role: the ConfigMap, then the Secret (which wins on a
     name in both), then the role's own variables. */}}
{{- define "todo.envFrom" -}}
- configMapRef:
    name: {{ include "todo.fullname" . }}
- secretRef:
    name: {{ include "todo.secretName" . }}
{{- end -}}

{{- define "todo.roleEnv" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* The HTTP probes of a role on port `port` (a name): start-up and liveness on `path`, which
     checks no dependency (an outage must not restart pods), readiness on `readinessPath`, which
     fails while a dependency the role needs is down (core/health.py). */}}
{{- define "todo.probes" -}}
{{- $p := .root.Values.probes -}}
startupProbe:
  httpGet: {path: {{ .startupPath | default .path }}, port: {{ .port }}}
  periodSeconds: {{ $p.startup.periodSeconds }}
  timeoutSeconds: {{ $p.startup.timeoutSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet: {path: {{ .path }}, port: {{ .port }}}
  initialDelaySeconds: {{ $p.liveness.initialDelaySeconds }}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet: {path: {{ .readinessPath | default .path }}, port: {{ .port }}}
  initialDelaySeconds: {{ $p.readiness.initialDelaySeconds }}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{/* Pod-level fields shared by every role (everything but `containers`): dict(root,
     serviceAccountName). */}}
{{- define "todo.podCommon" -}}
{{- $sa := .serviceAccountName -}}
{{- with .root -}}
serviceAccountName: {{ $sa }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.tmpSizeLimit }}
{{- end -}}
{{- end -}}

{{/* Container fields shared by every role. */}}
{{- define "todo.containerCommon" -}}
image: {{ include "todo.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}

{{/* Pod template annotations: roll the pods when the configuration changes. */}}
{{- define "todo.podAnnotations" -}}
checksum/config: {{ include "todo.configEnv" . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A Deployment of one role. Arguments (dict):
     root, role, args (the image's start script and its arguments), replicas, autoscaled (true:
     no replicas, an HPA or KEDA owns the count), resources, terminationGracePeriodSeconds, extraEnv, strategy (optional),
     http (true: the web role's port and probes; false: the metrics port and probes). */}}
{{- define "todo.deployment" -}}
{{- $root := .root -}}
{{- $ctx := dict "root" $root "role" .role -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "todo.roleName" $ctx }}
  labels:
    {{- include "todo.labels" $ctx | nindent 4 }}
spec:
  {{- if not .autoscaled }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "todo.selectorLabels" $ctx | nindent 6 }}
  {{- with .strategy }}
  strategy:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "todo.selectorLabels" $ctx | nindent 8 }}
        {{- if not .http }}
        todo-backend.io/metrics-port: "true"
        {{- end }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "todo.podAnnotations" $root | nindent 8 }}
    spec:
      {{- include "todo.podCommon" (dict "root" $root "serviceAccountName" (include "todo.serviceAccountName" $root)) | nindent 6 }}
      terminationGracePeriodSeconds: {{ .terminationGracePeriodSeconds }}
      {{- with $root.Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        - {{ toYaml . | nindent 10 | trim }}
          labelSelector:
            matchLabels:
              {{- include "todo.selectorLabels" $ctx | nindent 14 }}
        {{- end }}
      {{- end }}
      containers:
        - name: {{ .role }}
          {{- include "todo.containerCommon" $root | nindent 10 }}
          args:
            {{- toYaml .args | nindent 12 }}
          envFrom:
            {{- include "todo.envFrom" $root | nindent 12 }}
          env:
            {{- if .http }}
            - name: POD_IP
              valueFrom:
                fieldRef:
                  fieldPath: status.podIP
            # The kubelet's probes and Prometheus address the pod by IP.
            - name: ALLOWED_HOSTS
              value: {{ printf "%s,localhost,127.0.0.1,$(POD_IP)" (join "," $root.Values.config.allowedHosts) | quote }}
            {{- else }}
            - name: METRICS_PORT
              value: {{ $root.Values.metrics.port | quote }}
            {{- end }}
            {{- with .extraEnv }}
            {{- include "todo.roleEnv" . | trim | nindent 12 }}
            {{- end }}
          ports:
            {{- if .http }}
            - name: http
              containerPort: {{ $root.Values.web.port }}
              protocol: TCP
            {{- else }}
            - name: metrics
              containerPort: {{ $root.Values.metrics.port }}
              protocol: TCP
            {{- end }}
          {{- if .http }}
          # Keep serving while the endpoint removal reaches the Service and the ingress, then stop.
          lifecycle:
            preStop:
              exec:
                command: ["sleep", "5"]
          {{- include "todo.probes" (dict "root" $root "path" "/healthz" "readinessPath" "/readyz" "port" "http") | nindent 10 }}
          {{- else }}
          {{- include "todo.probes" (dict "root" $root "path" "/healthz" "readinessPath" "/readyz" "port" "metrics") | nindent 10 }}
          {{- end }}
          resources:
            {{- toYaml .resources | nindent 12 }}
{{- end -}}

{{/* A PodDisruptionBudget of one role: dict(root, role, pdb). */}}
{{- define "todo.pdb" -}}
{{- $ctx := dict "root" .root "role" .role -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "todo.roleName" $ctx }}
  labels:
    {{- include "todo.labels" $ctx | nindent 4 }}
spec:
  maxUnavailable: {{ .pdb.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "todo.selectorLabels" $ctx | nindent 6 }}
{{- end -}}
