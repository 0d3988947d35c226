"""The simulated cluster: a seeded Kubernetes shop with fault injection and ground truth."""
