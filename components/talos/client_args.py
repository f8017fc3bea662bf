"""Rebuild Talos secrets as typed input classes before handing them to invokes and resources.

Passing `Secrets.machine_secrets` or `Secrets.client_configuration` straight into the
`get_configuration` invokes sends snake_case nested keys (`bootstrap_token`, `k8s_aggregator`)
that the provider does not read (pulumiverse/pulumi-talos #93, #103, #200, #251). Rebuilding them
as the SDK's `*Args` classes makes the SDK serialise the camelCase names the provider expects.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pulumiverse_talos as talos

T = TypeVar("T")


def _field(obj: Any, snake: str) -> Any:
    """Read a field from an SDK output object or from a plain dict (snake or camelCase keys)."""
    if type(obj) is not dict:
        return getattr(obj, snake, None)
    if snake in obj:
        return obj[snake]
    head, *rest = snake.split("_")
    return obj.get(head + "".join(p.title() for p in rest))


def _cert(obj: Any) -> talos.machine.CertificateArgs:
    return talos.machine.CertificateArgs(cert=_field(obj, "cert"), key=_field(obj, "key"))


def machine_secrets_args(secrets: Any) -> talos.machine.MachineSecretsArgs:
    """`machine.Secrets.machine_secrets` (resolved) as `MachineSecretsArgs`."""
    certs = _field(secrets, "certs")
    cluster = _field(secrets, "cluster")
    k8s_secrets = _field(secrets, "secrets")
    return talos.machine.MachineSecretsArgs(
        certs=talos.machine.CertificatesArgs(
            etcd=_cert(_field(certs, "etcd")),
            k8s=_cert(_field(certs, "k8s")),
            k8s_aggregator=_cert(_field(certs, "k8s_aggregator")),
            k8s_serviceaccount=talos.machine.KeyArgs(
                key=_field(_field(certs, "k8s_serviceaccount"), "key")
            ),
            os=_cert(_field(certs, "os")),
        ),
        cluster=talos.machine.ClusterArgs(
            id=_field(cluster, "id"), secret=_field(cluster, "secret")
        ),
        secrets=talos.machine.KubernetesSecretsArgs(
            bootstrap_token=_field(k8s_secrets, "bootstrap_token"),
            secretbox_encryption_secret=_field(k8s_secrets, "secretbox_encryption_secret"),
            aescbc_encryption_secret=_field(k8s_secrets, "aescbc_encryption_secret"),
        ),
        trustdinfo=talos.machine.TrustdInfoArgs(
            token=_field(_field(secrets, "trustdinfo"), "token")
        ),
    )


def client_fields(client: Any) -> dict[str, str]:
    """The three fields of a resolved `client_configuration`, keyed by their SDK names."""
    return {
        name: _field(client, name)
        for name in ("ca_certificate", "client_certificate", "client_key")
    }


def client_args(client: Any, kind: type[T]) -> T:
    """A resolved `client_configuration` as the `*ClientConfigurationArgs` class `kind`."""
    return kind(**client_fields(client))
