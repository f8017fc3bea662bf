"""The Pod Security Standards, as the Pod Security admission of the API server applies a
namespace's `pod-security.kubernetes.io/enforce` (and reports `warn` and `audit`), for the pods
of the monitoring namespaces (docs/monitoring.md, "Pod Security").

`monitoring` enforces `baseline` and warns and audits `restricted`; `node-exporter` is
`privileged` (components/monitoring/alerting.py). `pod_security_problems` names, for a pod
template, every control of a level it breaks, per the Kubernetes documentation "Pod Security
Standards" (kubernetes.io/docs/concepts/security/pod-security-standards, the `latest` version
of the policies, which `enforce-version: latest` selects; the checks are those of
k8s.io/pod-security-admission `policy/check_*.go`). Windows-only controls (`hostProcess`) are
checked too; the controls that depend on the node's OS (`spec.os.name`) are not relaxed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

Level = Literal["privileged", "baseline", "restricted"]
LEVELS: tuple[Level, ...] = ("privileged", "baseline", "restricted")

#: Baseline, "Capabilities": what a container may add.
BASELINE_CAPABILITIES = frozenset(
    {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
     "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
)  # fmt: skip
#: Baseline, "SELinux": the types a pod or container may set (user and role: none).
SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
#: Baseline, "Sysctls": the safe set.
SAFE_SYSCTLS = frozenset(
    {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_local_reserved_ports",
     "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range",
     "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
     "net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}
)  # fmt: skip
#: Restricted, "Volume Types": the only ones allowed.
RESTRICTED_VOLUMES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
     "projected", "secret"}
)  # fmt: skip
_VOLUME_KEYS = frozenset({"name"})
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for group in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(group) or []:
            yield f"{group}[{container.get('name')}]", container


def _context(item: dict[str, Any]) -> dict[str, Any]:
    return item.get("securityContext") or {}


def baseline_problems(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> list[str]:
    """The Baseline controls a pod spec breaks (with the pod's annotations, for AppArmor)."""
    problems: list[str] = []
    pod = _context(spec)
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("securityContext.windowsOptions.hostProcess: host process")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field}: host namespaces")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            problems.append(f"volumes[{volume.get('name')}]: hostPath volume")
    problems += _selinux(pod, "securityContext")
    problems += _seccomp_unconfined(pod, "securityContext")
    problems += _apparmor(pod, "securityContext")
    for sysctl in pod.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"securityContext.sysctls: {sysctl.get('name')} is not a safe sysctl")
    for key, value in (annotations or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            problems.append(f"annotation {key}: AppArmor profile {value!r}")
    for at, container in _containers(spec):
        context = _context(container)
        where = f"{at}.securityContext"
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{where}.windowsOptions.hostProcess: host process")
        if context.get("privileged"):
            problems.append(f"{where}.privileged: privileged container")
        added = set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            problems.append(f"{where}.capabilities.add: {sorted(added)} beyond the baseline's")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                problems.append(f"{at}.ports[{port.get('name')}]: hostPort {port['hostPort']}")
        problems += _selinux(context, where)
        problems += _seccomp_unconfined(context, where)
        problems += _apparmor(context, where)
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"{where}.procMount: {context['procMount']!r}")
    return problems


def _selinux(context: dict[str, Any], where: str) -> list[str]:
    options = context.get("seLinuxOptions") or {}
    problems = []
    if options.get("type", "") not in SELINUX_TYPES:
        problems.append(f"{where}.seLinuxOptions.type: {options['type']!r}")
    for field in ("user", "role"):
        if options.get(field):
            problems.append(f"{where}.seLinuxOptions.{field}: set")
    return problems


def _seccomp_unconfined(context: dict[str, Any], where: str) -> list[str]:
    if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
        return [f"{where}.seccompProfile: Unconfined"]
    return []


def _apparmor(context: dict[str, Any], where: str) -> list[str]:
    profile = (context.get("appArmorProfile") or {}).get("type")
    if profile not in (None, "RuntimeDefault", "Localhost"):
        return [f"{where}.appArmorProfile: {profile!r}"]
    return []


def restricted_problems(spec: dict[str, Any]) -> list[str]:
    """The controls Restricted adds to Baseline that a pod spec breaks."""
    problems: list[str] = []
    pod = _context(spec)
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - _VOLUME_KEYS
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"volumes[{volume.get('name')}]: {sorted(kinds)} volume")
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type")
    if pod.get("runAsUser") == 0:
        problems.append("securityContext.runAsUser: 0")
    for at, container in _containers(spec):
        context = _context(container)
        where = f"{at}.securityContext"
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}.allowPrivilegeEscalation: must be false")
        non_root = context.get("runAsNonRoot", pod.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{where}.runAsNonRoot: must be true (here or the pod's)")
        if context.get("runAsUser") == 0:
            problems.append(f"{where}.runAsUser: 0")
        seccomp = (context.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}.seccompProfile: RuntimeDefault or Localhost (or the pod's)")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}.capabilities.drop: must include ALL")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            problems.append(f"{where}.capabilities.add: {sorted(added)} beyond NET_BIND_SERVICE")
    return problems


def pod_security_problems(
    spec: dict[str, Any], level: Level, annotations: dict[str, str] | None = None
) -> list[str]:
    """Every control of `level` the pod spec breaks (restricted includes baseline)."""
    if level == "privileged":
        return []
    problems = baseline_problems(spec, annotations)
    if level == "restricted":
        problems += restricted_problems(spec)
    return problems


def namespace_levels(labels: dict[str, str]) -> dict[str, Level]:
    """`enforce`, `warn` and `audit` of a namespace's labels; an unset mode is `privileged`, as
    the admission's default configuration has it."""
    out: dict[str, Level] = {}
    for mode in ("enforce", "warn", "audit"):
        value = labels.get(f"pod-security.kubernetes.io/{mode}", "privileged")
        if value not in LEVELS:
            raise ValueError(f"pod-security.kubernetes.io/{mode}: {value!r} is not a level")
        out[mode] = value  # type: ignore[assignment]
    return out
