"""The sandbox-driven parts of the agent: episodes in a simulated cluster, batches of them in
parallel sandboxes, and the privileged oracle. The service never imports this package."""
