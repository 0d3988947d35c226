#!/usr/bin/env bash
# A real cluster on a laptop for opsagent: kind, the Online Boutique demo application,
# kube-prometheus-stack (Alertmanager → opsagent's webhook), Elasticsearch + Fluent Bit for logs.
# Needs: docker, kind, kubectl, helm. Then run opsagent as docs/kind.md says.
set -euo pipefail
cd "$(dirname "$0")"
TOKEN=${OPSAGENT_ALERTMANAGER_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}

kind get clusters | grep -qx opsagent || kind create cluster --config cluster.yaml
kubectl config use-context kind-opsagent

# The application: Google's Online Boutique (11 services, gRPC + HTTP, a load generator).
kubectl create namespace shop --dry-run=client -o yaml | kubectl apply -f -
kubectl -n shop apply -f https://raw.githubusercontent.com/GoogleCloudPlatform/microservices-demo/v0.10.1/release/kubernetes-manifests.yaml

# Monitoring: kube-prometheus-stack with the webhook to opsagent on the host.
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
helm repo add elastic https://helm.elastic.co >/dev/null
helm repo add fluent https://fluent.github.io/helm-charts >/dev/null
helm repo update >/dev/null
kubectl create namespace monitoring --dry-run=client -o yaml | kubectl apply -f -
kubectl -n monitoring create secret generic opsagent-webhook-token --from-literal=token="$TOKEN" \
  --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install kps prometheus-community/kube-prometheus-stack -n monitoring \
  -f values-kube-prometheus-stack.yaml --wait

# Logs: a single-node Elasticsearch and Fluent Bit shipping every container's log.
kubectl create namespace logging --dry-run=client -o yaml | kubectl apply -f -
helm upgrade --install elasticsearch elastic/elasticsearch -n logging -f values-elasticsearch.yaml --wait
helm upgrade --install fluent-bit fluent/fluent-bit -n logging -f values-fluent-bit.yaml --wait

# A read-mostly identity for opsagent: what its tools read and the few actions they may take.
kubectl apply -f rbac.yaml
echo "alertmanager webhook token: $TOKEN  (export OPSAGENT_SERVICE__ALERTMANAGER_TOKEN=$TOKEN)"
echo "next: port-forward Prometheus and Elasticsearch and start opsagent (docs/kind.md)"
