"""Typed tools over the official Prometheus, Kubernetes and Elasticsearch clients."""
