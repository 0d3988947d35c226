#!/usr/bin/env bash
# Inject a fault into the kind cluster with kubectl, as the sandbox's catalogue does in
# simulation. Usage: ./faults.sh bad_rollout|oom|scale_to_zero|bad_config|node_down|undo
set -euo pipefail
NS=shop
case "${1:-}" in
  bad_rollout)   # a release that cannot start: an image tag that does not exist
    kubectl -n $NS set image deployment/checkoutservice server=gcr.io/google-samples/microservices-demo/checkoutservice:v0.0.0-bad ;;
  oom)           # a memory limit below what the service needs: OOMKilled, CrashLoopBackOff
    kubectl -n $NS set resources deployment/recommendationservice -c server --limits=memory=24Mi ;;
  scale_to_zero) # an operator error: the cart has no replica
    kubectl -n $NS scale deployment/cartservice --replicas=0 ;;
  bad_config)    # a misconfiguration: the frontend points at a product catalogue that is not there
    kubectl -n $NS set env deployment/frontend PRODUCT_CATALOG_SERVICE_ADDR=productcatalogservice-typo:3550 ;;
  node_down)     # a worker goes away: its pods are rescheduled (or stay Pending)
    docker stop opsagent-worker2 ;;
  undo)          # put everything back
    kubectl -n $NS rollout undo deployment/checkoutservice || true
    kubectl -n $NS rollout undo deployment/recommendationservice || true
    kubectl -n $NS rollout undo deployment/frontend || true
    kubectl -n $NS scale deployment/cartservice --replicas=1
    docker start opsagent-worker2 || true ;;
  *) echo "usage: $0 bad_rollout|oom|scale_to_zero|bad_config|node_down|undo" >&2; exit 2 ;;
esac
