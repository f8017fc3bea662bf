"""Validators of what the program generates: Talos documents, Kubernetes manifests, Helm values,
the GitOps tree, provider inputs, and the policy pack, each against upstream rules or schemas."""
