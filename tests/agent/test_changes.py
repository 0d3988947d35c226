"""The approval card's "before → after", read from the live sandbox's API through the tools'
client: the values an approver compares, and never an environment variable's value."""

from opsagent.agent.changes import changes
from tests.live import requires_stack

pytestmark = requires_stack


def test_what_each_deployment_action_changes(ctx, box):
    cart = box.scenario.world.workloads[("shop", "cart")]
    image = cart.template.containers[0].image
    assert changes(ctx, "k8s_scale", {"name": "cart", "replicas": 5}) == [
        {"field": "replicas", "before": cart.replicas, "after": 5}]
    assert changes(ctx, "k8s_set_image", {"name": "cart", "image": "shop/cart:9"}) == [
        {"field": "cart.image", "before": image, "after": "shop/cart:9"}]
    limit = changes(ctx, "k8s_patch_resources", {"name": "cart", "cpu_limit": "2"})
    assert limit[0]["field"] == "cart.cpu_limit" and limit[0]["after"] == "2" and limit[0]["before"]
    env = cart.template.containers[0].env
    known = next(iter(env))
    diff = changes(ctx, "k8s_patch_env", {"name": "cart", "set": {"NEW_FLAG": "s3cr3t"}, "unset": [known]})
    assert diff == [{"field": "cart.env.NEW_FLAG", "before": "unset", "after": "set"},
                    {"field": f"cart.env.{known}", "before": "set", "after": "unset"}]
    assert "s3cr3t" not in str(diff) and all(env[known] not in (c["before"], c["after"]) for c in diff)
    undo = changes(ctx, "k8s_rollout_undo", {"name": "checkout"})
    assert [c["field"] for c in undo] == ["revision", "image"] and undo[0]["after"] < undo[0]["before"]
    assert changes(ctx, "k8s_drain", {"node": "ip-10-0-1-21"}) == []
    assert changes(ctx, "k8s_scale", {"name": "no-such", "replicas": 1}) == []
