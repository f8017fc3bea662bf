"""The two kinds of stack of this project, each built by one function: a cluster's
(`cluster.build`) and an edge stack's (`edge.build`, docs/multi-cluster.md)."""
