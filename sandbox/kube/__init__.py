"""The Kubernetes API subset troubleshooting uses, served over the simulated cluster."""
