"""What the scanners read: every Kubernetes object the stacks put in their clusters, as files
(`objects.py` gathers them, `files.py` writes them, `cli.py` is `python -m offline.scan`), and
checkov's findings over them against the reviewed baseline (`checkov.py`, `.checkov.yaml`)."""
