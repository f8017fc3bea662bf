"""The policy pack, as `pulumi preview --policy-pack policy` runs it.

`PolicyPack(...)` starts the analyzer's gRPC server and blocks, so nothing else lives here: the
policies are in `rules.py` (and the sibling modules it imports), which tests and the offline
plan import without a server.
"""

import sys
from pathlib import Path

from pulumi_policy import PolicyPack

# The CLI runs this directory as a program; make its sibling modules importable either way.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import PACK_ENFORCEMENT, PACK_NAME, POLICIES

PolicyPack(PACK_NAME, enforcement_level=PACK_ENFORCEMENT, policies=POLICIES)
