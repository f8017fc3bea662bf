"""`proxmox.pool`: a pool id `pveum pool add` accepts, by default talos-<cluster_name>."""

from __future__ import annotations

from typing import Any

import pytest

from config import validate
from config.models import default_pool
from tests.conftest import NS, STACKS, stack_values, structured, with_key


def with_pool(stack: str, pool: Any) -> tuple[dict[str, str], frozenset[str]]:
    values, secrets = stack_values(stack)
    proxmox = structured(values, "proxmox")
    proxmox["pool"] = pool
    return with_key(values, "proxmox", proxmox), secrets


@pytest.mark.parametrize("stack", STACKS)
def test_the_shipped_stacks_default_to_a_pool_named_after_their_cluster(stack: str) -> None:
    config = validate(*stack_values(stack)).config
    assert config is not None and config.proxmox.pool is None
    assert config.proxmox_pool == f"talos-{config.cluster_name}" == default_pool(stack)


@pytest.mark.parametrize(
    "pool",
    ["talos-dev", "Talos_Dev.2", "homelab/dev", "a/b/c", "x"],
)
def test_pool_ids_proxmox_accepts(pool: str) -> None:
    result = validate(*with_pool("prod", pool))
    assert result.problems == []
    assert result.config is not None and result.config.proxmox_pool == pool


# pve-access-control `AccessControl.pm` verify_poolname: [A-Za-z0-9.-_] per level, at most 3
# levels; pve-manager `PVE/API2/Pool.pm` create_pool: each level starts with a letter.
REFUSED = [
    pytest.param("", id="empty"),
    pytest.param("1dev", id="leading-digit"),
    pytest.param("-dev", id="leading-dash"),
    pytest.param("talos dev", id="space"),
    pytest.param("talos:dev", id="colon"),
    pytest.param("tälos", id="non-ascii"),
    pytest.param("a/b/c/d", id="four-levels"),
    pytest.param("talos/", id="empty-level"),
    pytest.param("/dev", id="leading-slash"),
    pytest.param("talos/2dev", id="nested-leading-digit"),
    pytest.param("talos-dev\n", id="trailing-newline"),
    pytest.param(42, id="a-number"),
]


@pytest.mark.parametrize("pool", REFUSED)
def test_pool_ids_proxmox_refuses_name_the_key_the_value_and_the_format(pool: Any) -> None:
    result = validate(*with_pool("prod", pool))
    assert result.config is None
    [problem] = [str(p) for p in result.problems]
    assert problem.startswith(f"{NS}:proxmox.pool: got {pool!r}; expected ")
    if isinstance(pool, str):
        assert "expected a Proxmox pool id such as talos-dev" in problem
        assert "starting with a letter" in problem and "at most 3 levels" in problem
