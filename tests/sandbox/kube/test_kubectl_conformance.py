"""kubectl conformance: the commands an SRE types, each against the sandbox's API through the
real kubectl binary; every served kind can be described. (Watching, sorting, top, auth can-i,
drain and rollouts have their own tests in test_kubectl.py.)"""

from __future__ import annotations

import pytest

from opsagent.sandbox.kube.resources import RESOURCES
from tests.sandbox.kube.conftest import requires_kubectl

pytestmark = requires_kubectl


@pytest.mark.parametrize("res", RESOURCES, ids=[f"{r.name}.{r.group or 'core'}" for r in RESOURCES])
def test_describe_every_served_kind(live, res):
    objects = list(res.items(live.world))
    assert objects, f"the shop has no {res.kind}: nothing to describe"
    namespace, name = res.key(objects[0])
    kind = f"{res.name}.{res.group}" if res.group else res.name
    out = live.kubectl("describe", kind, name, *(["-n", namespace] if res.namespaced else [])).stdout
    assert out.splitlines()[0].split()[-1] == name


def test_everyday_commands(live):
    pod = next(p.name for p in live.world.pods.values() if p.service == "cart")
    follow = live.kubectl("logs", "-f", pod, "-n", "shop", "--tail=2", "--request-timeout=5s").stdout
    assert len(follow.splitlines()) == 2
    assert "condition met" in live.kubectl("wait", "--for=condition=Available", "deployment/cart",
                                           "-n", "shop", "--timeout=10s").stdout
    assert "condition met" in live.kubectl("wait", "--for=condition=Ready", f"pod/{pod}", "-n", "shop",
                                           "--timeout=10s").stdout
    history = live.kubectl("rollout", "history", "deployment/checkout", "-n", "shop").stdout
    assert history.splitlines()[1].split() == ["REVISION", "CHANGE-CAUSE"]
    columns = live.kubectl("get", "pods", "-n", "shop", "--field-selector", "status.phase=Running",
                           "-o", "custom-columns=NAME:.metadata.name,NODE:.spec.nodeName").stdout.splitlines()
    assert columns[0].split() == ["NAME", "NODE"]
    assert all(line.split()[1] in live.world.nodes for line in columns[1:])
    images = live.kubectl("get", "deploy", "checkout", "-n", "shop", "-o",
                          "jsonpath={.spec.template.spec.containers[*].image}").stdout
    assert images == live.world.workloads[("shop", "checkout")].template.containers[0].image
