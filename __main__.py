"""The program of every stack of this project. Thin on purpose: a stack whose config sets
`talos-platform:edge` is an edge stack (the load balancers in front of an environment's
clusters, stacks/edge.py); every other stack is one cluster (stacks/cluster.py)."""

from config.edge import running_edge_stack
from stacks import cluster, edge

if running_edge_stack():
    edge.build()
else:
    cluster.build()
