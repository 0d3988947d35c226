"""Metrics and alerts for the sandbox: remote write into a real Prometheus that evaluates the
real kube-prometheus rules and sends to a real Alertmanager."""
