"""The shell steps `pulumi up` runs with talosctl (and kubectl) on the machine running it.

Every step reads the talosconfig on stdin (never on the command line or in a file that outlives
it) and decides from what the cluster runs now whether it has work to do, so that it can run again
at any time: a changed talosconfig (renewed client certificate) or endpoint list makes Pulumi run
the step's `update`, which then finds nothing to do and exits 0.

What the commands do in Talos v1.13 (siderolabs/talos v1.13.9):
- `talosctl upgrade` installs the new image, cordons and drains the node itself (the kubectl drain
  library, so PodDisruptionBudgets are honoured; `--drain-timeout`, default 5m, then it fails and
  leaves the node cordoned), reboots it and uncordons it (`cmd/talosctl/cmd/talos/upgrade.go`).
  It no longer checks etcd quorum (that check lives only in the legacy handler,
  `internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go`), so each step runs
  `talosctl health` before it. `--preserve` is deprecated: the new path always keeps EPHEMERAL.
- `talosctl reboot` does not drain unless told (`--drain`, default false, `reboot.go`); the
  Reboot sequence only stops the pods (`v1alpha1_sequencer.go`).
- `talosctl reset --graceful` cordons, drains (logging, not failing on, a drain error), leaves
  etcd and wipes (`v1alpha1_sequencer.go`, Reset), hence `kubectl drain` first.
- `-o jsonpath` prints each result on its own line, literals included
  (`cmd/talosctl/cmd/talos/output/jsonpath.go`): `{.a}{.b}` gives two lines per resource.
- `talosctl get version` (`runtime.Version`, `pkg/machinery/resources/runtime/version.go`) is the
  running version; the Image Factory adds an extension named `schematic` whose version is the
  schematic ID (siderolabs/image-factory `internal/artifacts/schematic.go`).
- A config applied with `--mode=staged` waits in the `persistent` MachineConfig until the next
  boot; the active one is `v1alpha1` (`pkg/machinery/resources/config/machine_config.go`).
- `talosctl upgrade-k8s --to X` re-syncs the bootstrap manifests and re-applies kube-proxy even
  when X already runs (`pkg/cluster/kubernetes/talos_managed.go`), hence the version check first.
"""

from __future__ import annotations

NOTHING = "true"
"""`create` of the upgrade steps: a node created by this program already runs its target."""

PRELUDE = """set -eu
: "${ENDPOINTS:?control-plane IPs, comma-separated}"
umask 077
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
TALOSCONFIG="$WORK/talosconfig"; export TALOSCONFIG
cat > "$TALOSCONFIG"

answers() { timeout 30 talosctl -e "$1" -n "$1" version >/dev/null 2>&1; }

# The first control plane that answers with this cluster's credentials (a node in maintenance
# mode, not configured yet, does not), trying $SKIP (the node being upgraded or removed) last.
reachable_endpoint() {
  for ep in $(echo "$ENDPOINTS" | tr ',' ' '); do
    if [ "$ep" != "${SKIP:-}" ] && answers "$ep"; then echo "$ep"; return 0; fi
  done
  case ",$ENDPOINTS," in
    *",${SKIP:-},"*) if answers "$SKIP"; then echo "$SKIP"; return 0; fi ;;
  esac
  return 1
}

# With `cluster.network.cni.name: none`, `talosctl health` skips its "all k8s nodes to report
# ready" and "coredns to report ready" checks (siderolabs/talos v1.13.9
# pkg/cluster/check/default.go): the pod network is checked here, through the API server of the
# control plane $1: every node Ready, the Cilium agents and CoreDNS rolled out.
network_ready() {
  talosctl -e "$1" -n "$1" kubeconfig --force "$WORK/kubeconfig" >/dev/null
  set -- --kubeconfig "$WORK/kubeconfig" --server "https://$1:6443"
  kubectl "$@" wait --for=condition=Ready node --all --timeout=10m
  kubectl "$@" -n kube-system rollout status daemonset/cilium --timeout=10m
  kubectl "$@" -n kube-system rollout status deployment/coredns --timeout=10m
}
"""

UPGRADE_NODE = (
    PRELUDE
    + """: "${NODE:?}" "${NODE_NAME:?}" "${TALOS_VERSION:?}" "${SCHEMATIC:?}" "${INSTALLER_IMAGE:?}"
SKIP="$NODE"
ENDPOINT="$(reachable_endpoint)" || {
  echo "error: no control plane of the cluster answers at $ENDPOINTS" >&2; exit 1; }
talos() { talosctl -e "$ENDPOINT" -n "$NODE" "$@"; }

running="$(talos get version -o jsonpath='{.spec.version}')"
# Name and version of each extension, one per line: the version after the line `schematic`.
schematic="$(talos get extensions -o jsonpath='{.spec.metadata.name}{.spec.metadata.version}' \\
  | awk 'previous == "schematic" { print; exit } { previous = $0 }')"
pending=no
if active="$(talos get machineconfig v1alpha1 -o jsonpath='{.spec}')" \\
  && staged="$(talos get machineconfig persistent -o jsonpath='{.spec}' 2>/dev/null)" \\
  && [ -n "$staged" ] && [ "$staged" != "$active" ]; then
  pending=yes
fi
if [ "$running" = "$TALOS_VERSION" ] && [ "$schematic" = "$SCHEMATIC" ] && [ $pending = no ]; then
  echo "$NODE_NAME runs Talos $running (schematic $schematic), no staged config: nothing to do"
  exit 0
fi

if [ -n "${UPGRADE_LOCK:-}" ]; then  # workers: one at a time, in any order
  exec 9>"$UPGRADE_LOCK"
  flock 9
fi
talosctl -e "$ENDPOINT" -n "$ENDPOINT" health --wait-timeout 10m
network_ready "$ENDPOINT"
if [ "$running" != "$TALOS_VERSION" ] || [ "$schematic" != "$SCHEMATIC" ]; then
  echo "$NODE_NAME: Talos $running ($schematic) -> $TALOS_VERSION ($SCHEMATIC)"
  talos upgrade --image "$INSTALLER_IMAGE" --wait --timeout 30m --drain-timeout 10m
else
  echo "$NODE_NAME: a staged machine configuration waits for a reboot"
  talos reboot --drain --drain-timeout 10m --wait --timeout 20m
fi
talosctl -e "$ENDPOINT" -n "$ENDPOINT" health --wait-timeout 10m
network_ready "$ENDPOINT"
"""
)

KUBERNETES_DONE = 'echo "kubernetes: v$KUBERNETES_VERSION, upgrade-k8s complete"'
"""The line a Kubernetes step prints when the cluster is wholly at its target: `create` prints it
(a new cluster starts there), and the next `update` reads it back from the step's previous output
(`PULUMI_COMMAND_STDOUT`, pulumi-command `addPreviousOutputInEnv`, on by default)."""

UPGRADE_KUBERNETES = (
    PRELUDE
    + """: "${NODES:?}" "${KUBERNETES_VERSION:?}"
ENDPOINT="$(reachable_endpoint)" || {
  echo "error: no control plane of the cluster answers at $ENDPOINTS" >&2; exit 1; }
target="v$KUBERNETES_VERSION"
done_line="kubernetes: $target, upgrade-k8s complete"
behind=""
# The kubelet of every node that answers (a node not configured yet gets the new version with
# its configuration), and the API server every control plane is told to run.
for node in $(echo "$NODES" | tr ',' ' '); do
  image="$(talosctl -e "$ENDPOINT" -n "$node" get kubeletspec -o jsonpath='{.spec.image}' \\
    2>/dev/null)" || { echo "$node does not answer: skipped"; continue; }
  [ "${image##*:}" = "$target" ] || behind="$behind $node(kubelet ${image##*:})"
done
for node in $(echo "$ENDPOINTS" | tr ',' ' '); do
  image="$(talosctl -e "$ENDPOINT" -n "$node" get apiserverconfig -o jsonpath='{.spec.image}' \\
    2>/dev/null)" || continue
  [ "${image##*:}" = "$target" ] || behind="$behind $node(kube-apiserver ${image##*:})"
done
# upgrade-k8s syncs the bootstrap manifests last: images at the target after a run that failed
# there are not enough. The last run that completed is in the previous output: when it names
# another version, the run to this one did not complete. No such line (a step created before it
# was printed): trust the images.
last="$(printf '%s\\n' "${PULUMI_COMMAND_STDOUT:-}" \\
  | grep -E '^kubernetes: v[^,]+, upgrade-k8s complete$' | tail -n 1)" || last=""
if [ -z "$behind" ] && { [ -z "$last" ] || [ "$last" = "$done_line" ]; }; then
  echo "Kubernetes runs $target on every node that answers: nothing to do"
  echo "$done_line"
  exit 0
fi
echo "Kubernetes -> $target; behind:${behind:- none, but the last upgrade to it did not complete}"
talosctl -e "$ENDPOINT" -n "$ENDPOINT" health --wait-timeout 10m
talosctl -e "$ENDPOINT" -n "$ENDPOINT" upgrade-k8s --to "$KUBERNETES_VERSION" \\
  --with-docs=false --with-examples=false
talosctl -e "$ENDPOINT" -n "$ENDPOINT" health --wait-timeout 10m
echo "$done_line"
"""
)

API_READY = (
    PRELUDE
    + """PAUSE="${PAUSE:-5}"  # seconds between attempts (the tests set 0)
TRIES="${TRIES:-180}"  # 15 minutes: a new cluster pulls its control-plane images first
# Nodes are NotReady until the CNI runs, so `talosctl health` (which waits for Ready nodes,
# pkg/cluster/check/default.go) cannot gate the CNI's own install: this waits for what the
# install needs, a control plane that answers and an API server that reports ready (its /readyz
# includes etcd). Asked directly, then through the cluster endpoint (the VIP), which the Cilium
# release's kubeconfig uses.
tries=0
until ENDPOINT="$(reachable_endpoint)" \\
  && talosctl -e "$ENDPOINT" -n "$ENDPOINT" kubeconfig --force "$WORK/kubeconfig" >/dev/null 2>&1 \\
  && kubectl --kubeconfig "$WORK/kubeconfig" --server "https://$ENDPOINT:6443" \\
    --request-timeout=10s get --raw=/readyz >/dev/null 2>&1 \\
  && kubectl --kubeconfig "$WORK/kubeconfig" --server "${API_URL:?the cluster endpoint}" \\
    --request-timeout=10s get --raw=/readyz >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge "$TRIES" ]; then
    echo "error: no API server of the cluster at $ENDPOINTS reports ready" >&2; exit 1
  fi
  sleep "$PAUSE"
done
echo "the API server answers at $ENDPOINT: ready for the network"
"""
)
"""The Talos-level gate: etcd and the API server up, nodes possibly NotReady (no CNI yet)."""

HEALTH_CREATE = (
    PRELUDE
    + """: "${WORKERS?}"
ENDPOINT="$(reachable_endpoint)" || {
  echo "error: no control plane of the cluster answers at $ENDPOINTS" >&2; exit 1; }
set -- --control-plane-nodes "$ENDPOINTS"
[ -z "$WORKERS" ] || set -- "$@" --worker-nodes "$WORKERS"
talosctl -e "$ENDPOINT" -n "$ENDPOINT" health "$@" --wait-timeout 10m
network_ready "$ENDPOINT"
"""
)
"""A new cluster: every node of the config, and only those, must be up and healthy."""

HEALTH_UPDATE = (
    PRELUDE
    + """ENDPOINT="$(reachable_endpoint)" || {
  echo "error: no control plane of the cluster answers at $ENDPOINTS" >&2; exit 1; }
talosctl -e "$ENDPOINT" -n "$ENDPOINT" health --wait-timeout 10m
network_ready "$ENDPOINT"
"""
)
"""A running cluster: healthy as the cluster itself sees it (its discovered members). Not the
node lists of the config: Pulumi deletes a removed node only after every update, so during this
step the node is still a member, and a check against the new list would fail the removal."""

NODE_EXIT = (
    PRELUDE
    + """: "${NODE:?}" "${NODE_NAME:?}" "${ROLE:?}"
SKIP="$NODE"
ENDPOINT="$(reachable_endpoint)" || {
  echo "error: no control plane answers at $ENDPOINTS to remove $NODE_NAME from the cluster;" \\
    "once one does, run: kubectl delete node $NODE_NAME (and, for a control plane," \\
    "talosctl etcd remove-member <its ID>)" >&2
  exit 1
}
talosctl -e "$ENDPOINT" -n "$ENDPOINT" kubeconfig --force "$WORK/kubeconfig" >/dev/null
# Straight to the API server of the control plane that answered, not the VIP, which may be
# moving off a control plane that leaves.
kube() { kubectl --kubeconfig "$WORK/kubeconfig" --server "https://$ENDPOINT:6443" "$@"; }
PAUSE="${PAUSE:-10}"  # seconds between attempts (the tests set 0)
retry() {
  for attempt in 1 2 3 4 5; do
    if "$@"; then return 0; fi
    echo "attempt $attempt failed: $*" >&2; sleep "$PAUSE"
  done
  return 1
}
node_answers() { timeout 30 talosctl -e "$ENDPOINT" -n "$NODE" version >/dev/null 2>&1; }
alive=no
for attempt in 1 2 3; do
  if node_answers; then alive=yes; break; fi
  sleep "$PAUSE"
done
if [ $alive = yes ]; then
  # Drain first (PDBs honoured; a graceful reset only logs a failed drain), then reset it
  # gracefully: it leaves etcd, wipes STATE and EPHEMERAL and powers off. Not `reset --wait`,
  # which can hang once the node is off (siderolabs/talos#11119): wait until it stops answering.
  if kube get node "$NODE_NAME" >/dev/null 2>&1; then
    kube drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout=10m \\
      --skip-wait-for-delete-timeout=60
  fi
  talosctl -e "$ENDPOINT" -n "$NODE" reset --graceful --reboot=false \\
    --system-labels-to-wipe STATE --system-labels-to-wipe EPHEMERAL --wait=false
  waited=0
  while node_answers; do  # at most 60 probes
    if [ $waited -ge 600 ]; then
      echo "error: $NODE_NAME still answers 10 minutes after its reset" >&2; exit 1
    fi
    sleep "$PAUSE"; waited=$((waited + 10))
  done
else
  echo "$NODE_NAME does not answer: no drain, no reset; removing what the cluster keeps of it"
fi
retry kube delete node "$NODE_NAME" --ignore-not-found --wait=false
if [ "$ROLE" = controlplane ]; then
  # A graceful reset leaves etcd itself; a node that died first is still a member.
  members="$(talosctl -e "$ENDPOINT" -n "$ENDPOINT" etcd members)"
  member="$(printf '%s\\n' "$members" \\
    | awk -v host="$NODE_NAME" 'NR > 1 && $3 == host { print $2 }')"
  if [ -n "$member" ]; then
    talosctl -e "$ENDPOINT" -n "$ENDPOINT" etcd remove-member "$member"
  fi
fi
echo "$NODE_NAME removed from Kubernetes and etcd"
"""
)
