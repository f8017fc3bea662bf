"""The platform add-ons against the stack they run on (`stack.StackPlatform`), as revisions.py
checks the Git ref: the tree and `Pulumi.<env>.yaml` are written apart, and nothing else notices
when they drift until a volume or a certificate is refused in the cluster.

- proxmox-csi-plugin is deployed iff the stack's `storage.proxmox_csi` is on (the program then
  creates its namespace and its Secret); its StorageClasses use datastores the stack's hosts
  have, in the stack's region, on the hosts that have them; exactly one is the default;
- kubelet-csr-approver's `providerRegex` matches every node name and its `providerIpPrefixes`
  are exactly the node addresses, each a /32: a node address outside them never gets its
  serving certificate approved, and an address inside them that is no node's (the VIP, the
  gateway, a free one) could be put in any kubelet's request and signed by the cluster CA;
- metrics-server verifies the kubelets' certificates and reaches them on their InternalIP only,
  so it needs the approver beside it;
- kube-prometheus-stack finds the control planes by Talos' labels (etcd through a ScrapeConfig
  checked on the stack's nodes), verifies the kubelets and reads the program's Alertmanager
  configuration (monitoring_stack.py);
- Velero backs up to the stack's R2 bucket and endpoint with the program's Secret (velero.py).
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, ip_network
from typing import Any

from config.errors import NAMESPACE

from . import charts, tree
from .addons import addon_applications
from .monitoring_stack import MONITORING_CHART, monitoring_problems
from .schemas import describe
from .stack import StackPlatform
from .tree import Problem, RenderedObject
from .velero import VELERO_CHART, velero_problems

CSI_CHART = "proxmox-csi-plugin"
APPROVER_CHART = "kubelet-csr-approver"
METRICS_CHART = "metrics-server"
#: The CSI driver's name (the chart's `provisionerName`, "currently, cannot be customized").
CSI_PROVISIONER = "csi.proxmox.sinextra.dev"
#: What the Pulumi program creates while `storage.proxmox_csi` is on: the namespace, and in it
#: the Secret holding the plugin's configuration under this key.
CSI_NAMESPACE = "csi-proxmox"
CSI_SECRET = "proxmox-csi-plugin"
CSI_SECRET_KEY = "config.yaml"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
CSI_SWITCH = f"{NAMESPACE}:storage.proxmox_csi"
APPROVER_VALUES = "kubelet-csr-approver.yaml"
#: metrics-server's flags (kubernetes-sigs/metrics-server v0.8.1, the appVersion of the vendored
#: chart 3.13.1, cmd/metrics-server/app/options/kubelet_client.go, AddFlags and Config):
#: `--kubelet-insecure-tls` stops verifying the kubelets' serving certificates,
#: `--deprecated-kubelet-completely-insecure` scrapes them over plain HTTP.
INSECURE_FLAGS = ("kubelet-insecure-tls", "deprecated-kubelet-completely-insecure")
#: The address types metrics-server tries, in order, for a kubelet (same file:
#: `--kubelet-preferred-address-types`, a pflag string slice; NewKubeletClientOptions defaults to
#: pkg/utils/address_resolver.go DefaultAddressTypePriority). Only InternalIP: the name of a
#: homelab node seldom resolves, and the approved certificate names the node's InternalIP.
ADDRESS_TYPES_FLAG = "kubelet-preferred-address-types"
ADDRESS_TYPES = ["InternalIP"]
DEFAULT_ADDRESS_TYPES = ["Hostname", "InternalDNS", "InternalIP", "ExternalDNS", "ExternalIP"]
#: Boolean flags take a value only as `--name=value` (pflag NoOptDefVal); strconv.ParseBool.
BOOLEAN_FLAGS = frozenset({*INSECURE_FLAGS, "kubelet-use-node-status-port"})
FALSE_VALUES = frozenset({"0", "f", "F", "false", "FALSE", "False"})

Addon = tuple[RenderedObject, charts.HelmSource]


def platform_problems(
    env: str, rendered: dict[str, list[RenderedObject]], stack: StackPlatform
) -> list[Problem]:
    """Every disagreement between the environment's platform add-ons and its stack."""
    addons: dict[str, Addon] = {
        source.chart: (item, source)
        for item in addon_applications(env, rendered)
        for source in charts.helm_sources(item.manifest)
    }
    folder = tree.platform_path(env)
    problems = _csi_switch_problems(stack, CSI_CHART in addons, folder)
    if CSI_CHART in addons:
        problems += _csi_problems(addons[CSI_CHART], stack, rendered, folder)
    problems += _default_class_problems(rendered, required=CSI_CHART in addons)
    if APPROVER_CHART in addons:
        problems += _approver_problems(addons[APPROVER_CHART], stack, rendered, folder)
    if METRICS_CHART in addons:
        problems += _metrics_problems(addons[METRICS_CHART], APPROVER_CHART in addons, rendered)
    if MONITORING_CHART in addons:
        item, source = addons[MONITORING_CHART]
        problems += monitoring_problems(item, source, stack, rendered, APPROVER_CHART in addons)
    if VELERO_CHART in addons:
        item, source = addons[VELERO_CHART]
        problems += velero_problems(item, source, stack, rendered, folder)
    return problems


def _csi_switch_problems(stack: StackPlatform, deployed: bool, folder: str) -> list[Problem]:
    if stack.proxmox_csi and not deployed:
        message = (
            f"is on (the program creates the namespace {CSI_NAMESPACE} and the Secret "
            f"{CSI_SECRET} for the plugin), but {folder} deploys no {CSI_CHART}: add it back, or "
            "turn the switch off (docs/platform.md)"
        )
    elif deployed and not stack.proxmox_csi:
        message = (
            f"is off, so the program creates no Secret {CSI_SECRET}, but {folder} deploys "
            f"{CSI_CHART}, whose controller could not start: remove it from {folder}, or turn "
            "the switch on (docs/platform.md)"
        )
    else:
        return []
    return [Problem(stack.file, "stack", CSI_SWITCH, message)]


def _objects(source: charts.HelmSource, rendered: dict[str, list[RenderedObject]], kind: str):
    return [o for o in rendered.get(source.key, []) if o.manifest.get("kind") == kind]


def _csi_problems(
    addon: Addon, stack: StackPlatform, rendered: dict[str, list[RenderedObject]], folder: str
) -> list[Problem]:
    item, source = addon
    name = describe(item.manifest)
    problems: list[Problem] = []

    def add(field: str, message: str) -> None:
        problems.append(Problem(item.origin, name, field, message))

    if source.namespace != CSI_NAMESPACE:
        add(
            "spec.destination.namespace",
            f"must be {CSI_NAMESPACE!r}: the namespace (Pod Security privileged) and the Secret "
            "the program creates for the plugin are there",
        )
    for key, expected in (
        ("existingConfigSecret", CSI_SECRET),
        ("existingConfigSecretKey", CSI_SECRET_KEY),
    ):
        if source.values.get(key) != expected:
            add(
                f"{source.values_field}.{key}",
                f"must be {expected!r}: the plugin's configuration is the Secret {CSI_SECRET} "
                f"(key {CSI_SECRET_KEY}) the program creates",
            )
    entries = {
        str(entry.get("name")): index
        for index, entry in enumerate(source.values.get("storageClass") or [])
        if isinstance(entry, dict)
    }
    hosts_with_nodes = {node.host for node in stack.nodes}
    for obj in _objects(source, rendered, "StorageClass"):
        manifest = obj.manifest
        if manifest.get("provisioner") != CSI_PROVISIONER:
            continue
        class_name = str(manifest["metadata"].get("name"))
        index = entries.get(class_name)
        at = f"{source.values_field}.storageClass[{index}]" if index is not None else None

        def report(
            field: str, message: str, obj: RenderedObject = obj, at: str | None = at
        ) -> None:
            if at is None:
                problems.append(Problem(obj.origin, describe(obj.manifest), field, message))
            else:
                add(f"{at}.{field.rsplit('.', 1)[-1]}", message)

        storage = str((manifest.get("parameters") or {}).get("storage"))
        having = {host for host, datastore in stack.datastores.items() if datastore == storage}
        if not having:
            known = ", ".join(sorted(set(stack.datastores.values())))
            report(
                "parameters.storage",
                f"{storage!r} is not the vm_datastore of any Proxmox host in {stack.file} "
                f"({known}): the plugin could not create a disk there",
            )
            continue
        terms = manifest.get("allowedTopologies") or []
        if not terms:
            continue
        regions, zones = _topology_values(terms)
        if regions != {stack.region}:
            report(
                "allowedTopologies",
                f"regions {sorted(regions)}, but the nodes' {REGION_LABEL} (and the plugin's "
                f"region) is proxmox.region {stack.region!r} of {stack.file}",
            )
        for zone in sorted(zones - having):
            report(
                "allowedTopologies",
                f"zone {zone!r}: no Proxmox host of that name in {stack.file} has the datastore "
                f"{storage!r}",
            )
        for host in sorted((having & hosts_with_nodes) - zones):
            report(
                "allowedTopologies",
                f"leaves out host {host!r}, whose nodes (zone {host!r}) have {storage!r} in "
                f"{stack.file}: pods with such volumes could not run there",
            )
    if not entries:
        add(f"{source.values_field}.storageClass", f"no StorageClass: {folder} offers no volumes")
    return problems


def _topology_values(terms: list[Any]) -> tuple[set[str], set[str]]:
    regions: set[str] = set()
    zones: set[str] = set()
    for term in terms:
        for expression in (term or {}).get("matchLabelExpressions") or []:
            values = {str(v) for v in expression.get("values") or []}
            if expression.get("key") == REGION_LABEL:
                regions |= values
            elif expression.get("key") == ZONE_LABEL:
                zones |= values
    return regions, zones


def _default_class_problems(
    rendered: dict[str, list[RenderedObject]], required: bool
) -> list[Problem]:
    classes = [
        obj
        for items in rendered.values()
        for obj in items
        if obj.manifest.get("kind") == "StorageClass"
    ]
    defaults = [
        obj
        for obj in classes
        if ((obj.manifest.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CLASS)
        == "true"
    ]
    field = f'metadata.annotations["{DEFAULT_CLASS}"]'
    if len(defaults) > 1:
        names = ", ".join(str(o.manifest["metadata"]["name"]) for o in defaults)
        return [
            Problem(
                obj.origin,
                describe(obj.manifest),
                field,
                f"{len(defaults)} default StorageClasses ({names}): a claim without a class gets "
                "whichever is newest; mark exactly one as the default",
            )
            for obj in defaults
        ]
    if required and classes and not defaults:
        names = ", ".join(str(o.manifest["metadata"]["name"]) for o in classes)
        obj = classes[0]
        message = f"no default StorageClass among {names}: a claim without a class stays Pending"
        return [Problem(obj.origin, describe(obj.manifest), field, message)]
    return []


def _container_env(
    source: charts.HelmSource, rendered: dict[str, list[RenderedObject]]
) -> dict[str, str]:
    found: dict[str, str] = {}
    for obj in _objects(source, rendered, "Deployment"):
        pod = ((obj.manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            for variable in container.get("env") or []:
                if "value" in variable:
                    found[str(variable["name"])] = str(variable["value"])
    return found


def _approver_problems(
    addon: Addon, stack: StackPlatform, rendered: dict[str, list[RenderedObject]], folder: str
) -> list[Problem]:
    """What postfinance/kubelet-csr-approver v1.2.14 does with PROVIDER_REGEX and
    PROVIDER_IP_PREFIXES (internal/cmd/cmd.go: `regexp.MustCompile(...).MatchString`, a search;
    internal/controller/regex_ip_checks.go: every SAN IP must be inside a prefix)."""
    item, source = addon
    name = describe(item.manifest)
    variables = _container_env(source, rendered)
    if not rendered.get(source.key):
        return []  # did not render: charts.source_problems says why
    problems: list[Problem] = []

    def add(value: str, message: str) -> None:
        field = f"{source.values_field}.{value}"
        problems.append(Problem(item.origin, name, field, f"{message} (values of {folder})"))

    pattern = variables.get("PROVIDER_REGEX", "")
    try:
        regex = re.compile(pattern) if pattern else None
    except re.error as exc:
        regex = None
        add("providerRegex", f"{pattern!r} is not a regular expression: {exc}")
    if not pattern:
        add("providerRegex", "not set: the approver refuses to start without it")
    elif regex is not None:
        if not (pattern.startswith("^") and pattern.endswith("$")):
            add(
                "providerRegex",
                f"{pattern!r} is searched, not matched whole: anchor it (^...$), or it also "
                "approves names that merely contain a match",
            )
        for node in stack.nodes:
            if not regex.search(node.name):
                add(
                    "providerRegex",
                    f"{pattern!r} does not match node {node.name!r} of {stack.file}: its kubelet "
                    "serving certificate would never be approved",
                )
    values_file = f"{folder}/{APPROVER_VALUES}"
    wanted = ", ".join(f"{node.ip}/32" for node in stack.nodes)
    prefixes = []
    for text in filter(None, variables.get("PROVIDER_IP_PREFIXES", "").split(",")):
        try:
            if "/" not in text or text != text.strip():
                raise ValueError(text)
            prefixes.append(ip_network(text, strict=False))
        except ValueError:
            add(
                "providerIpPrefixes",
                f"{text!r} is not an IP prefix (netip.ParsePrefix): the approver exits",
            )
    if not prefixes:
        add("providerIpPrefixes", f"empty: list the node addresses of {stack.file} ({wanted})")
        return problems
    for prefix in prefixes:
        extra = _not_nodes(prefix, stack)
        if extra:
            add(
                "providerIpPrefixes",
                f"{prefix} holds {extra}, which no node of {stack.file} has: with "
                "bypassDnsResolution any kubelet could have a serving certificate for it signed "
                f"by the cluster CA; list exactly the node addresses as /32 ({wanted})",
            )
    for node in stack.nodes:
        if not any(_contains(prefix, node.ip) for prefix in prefixes):
            add(
                "providerIpPrefixes",
                f"no prefix holds the address {node.ip} of node {node.name!r} ({stack.file}): its "
                f"kubelet serving certificate would be denied; add {node.ip}/32 to "
                f"providerIpPrefixes in {values_file}",
            )
    return problems


def _contains(prefix: Any, address: IPv4Address) -> bool:
    return prefix.version == address.version and address in prefix


def _not_nodes(prefix: Any, stack: StackPlatform) -> str:
    """The addresses of `prefix` that are no node's, described ("" when there are none): the
    stack's VIP, gateway and nameservers by name, then how many others, with the first."""
    nodes = {node.ip for node in stack.nodes if _contains(prefix, node.ip)}
    if prefix.num_addresses <= len(nodes):
        return ""
    roles = [("VIP", stack.vip), ("gateway", stack.gateway)]
    roles += [("nameserver", address) for address in stack.nameservers]
    named: dict[IPv4Address, str] = {}
    for role, address in roles:
        if address is not None and _contains(prefix, address) and address not in nodes:
            named.setdefault(address, f"the {role} {address}")
    parts = list(named.values())
    rest = prefix.num_addresses - len(nodes) - len(named)
    if rest > 0:
        first = next(a for a in prefix if a not in nodes and a not in named)
        parts.append(f"{rest} other addresses ({first}, ...)" if rest > 1 else f"{first}")
    return ", ".join(parts)


def parse_flags(args: list[str], booleans: frozenset[str]) -> dict[str, list[str | None]]:
    """Go pflag command-line flags: `--name=value`, `--name value` (not for a boolean flag,
    whose value comes only after `=`), `--name` alone (a boolean, true: None); values in the
    order given; everything after `--` and every argument not starting with `--` is no flag."""
    flags: dict[str, list[str | None]] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            break
        if not arg.startswith("--"):
            continue
        name, equals, value = arg[2:].partition("=")
        if equals:
            flags.setdefault(name, []).append(value)
        elif name in booleans or index >= len(args):
            flags.setdefault(name, []).append(None)
        else:
            flags.setdefault(name, []).append(args[index])
            index += 1
    return flags


def _address_types(values: list[str | None]) -> list[str]:
    """A pflag string slice: each occurrence's comma-separated values, appended (the first
    replaces the default)."""
    return [part for value in values for part in (value or "").split(",")]


def _metrics_container_problems(container: dict[str, Any]) -> list[tuple[str, str]]:
    """(flag, why) of each metrics-server flag that breaks the kubelet TLS or addressing."""
    args = [str(a) for a in (container.get("command") or [])[1:]]
    args += [str(a) for a in container.get("args") or []]
    flags = parse_flags(args, BOOLEAN_FLAGS)
    found = []
    for flag in INSECURE_FLAGS:
        values = flags.get(flag, [])
        if values and values[-1] not in FALSE_VALUES:
            shown = f"--{flag}" + ("" if values[-1] is None else f"={values[-1]}")
            found.append(
                (
                    shown,
                    "metrics-server must verify the kubelets' serving certificates against the "
                    "cluster CA (kubelet-csr-approver approves them)",
                )
            )
    types = _address_types(flags[ADDRESS_TYPES_FLAG]) if ADDRESS_TYPES_FLAG in flags else None
    if types != ADDRESS_TYPES:
        shown = (
            "unset, the default " + ",".join(DEFAULT_ADDRESS_TYPES)
            if types is None
            else (",".join(types))
        )
        found.append(
            (
                f"--{ADDRESS_TYPES_FLAG}",
                f"{shown}: must be exactly {','.join(ADDRESS_TYPES)}; a node name (Hostname) "
                "seldom resolves in a homelab, and an external address is not the one the "
                "kubelet's approved certificate names",
            )
        )
    return found


def _metrics_problems(
    addon: Addon, approver: bool, rendered: dict[str, list[RenderedObject]]
) -> list[Problem]:
    """metrics-server's flags, as kubernetes-sigs/metrics-server v0.8.1 (the appVersion of the
    vendored chart 3.13.1) reads them: cmd/metrics-server/app/options/kubelet_client.go."""
    item, source = addon
    name = describe(item.manifest)
    problems = []
    for obj in _objects(source, rendered, "Deployment"):
        pod = ((obj.manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in pod.get("containers") or []:
            if container.get("name") != METRICS_CHART:
                continue  # the chart's addon-resizer sidecar has flags of its own
            for flag, why in _metrics_container_problems(container):
                problems.append(Problem(item.origin, name, source.values_field, f"{flag}: {why}"))
    if not approver:
        message = (
            f"needs {APPROVER_CHART} beside it: the kubelets ask for serving certificates "
            "(rotate-server-certificates) that nothing else approves, so metrics-server could "
            "verify none"
        )
        problems.append(Problem(item.origin, name, "spec.source.chart", message))
    return problems
