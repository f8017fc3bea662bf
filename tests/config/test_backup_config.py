"""The `backup` section: every stack names its bucket and the age public key snapshots are
encrypted to; a wrong value names the key and what is expected, and a pasted private key is
refused without being shown."""

from __future__ import annotations

import pytest

from config import validate
from config.types import bech32_checksum_ok
from tests.conftest import NS, stack_values, structured, with_key

PRIVATE_KEY = "AGE-SECRET-KEY-1" + "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L" * 2
PRIVATE_KEY = PRIVATE_KEY[: len("AGE-SECRET-KEY-1") + 58]


def _problems(**fields: object) -> list[str]:
    values, secrets = stack_values("prod")
    backup = {**structured(values, "backup"), **fields}
    return [str(p) for p in validate(with_key(values, "backup", backup), secrets).problems]


def test_the_shipped_keys_are_age_keys() -> None:
    for stack in ("dev", "staging", "prod"):
        key = structured(stack_values(stack)[0], "backup")["age_recipient"]
        assert key.startswith("age1") and bech32_checksum_ok("age", key[4:])


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("bucket", "Prod_Backups", "expected an R2 bucket name"),
        ("bucket", "ab", "expected an R2 bucket name"),
        ("bucket", "-prod-backups", "expected an R2 bucket name"),
        ("jurisdiction", "us", "'default', 'eu' or 'fedramp'"),
        ("location", "europe", "'apac', 'eeur', 'enam', 'weur', 'wnam' or 'oc'"),
        ("etcd_retention_days", 0, "greater than or equal to 1"),
        ("age_recipient", "age1notarecipient", "expected an age X25519 public key"),
    ],
)
def test_a_bad_value_names_the_key_and_what_is_expected(
    field: str, value: object, expected: str
) -> None:
    [problem] = _problems(**{field: value})
    assert problem.startswith(f"{NS}:backup.{field}:")
    assert expected in problem


def test_a_mistyped_public_key_fails_its_checksum() -> None:
    values, _ = stack_values("prod")
    key = structured(values, "backup")["age_recipient"]
    typo = key[:10] + ("q" if key[10] != "q" else "p") + key[11:]
    [problem] = _problems(age_recipient=typo)
    assert "expected an age X25519 public key" in problem


def test_a_private_key_in_place_of_the_public_one_is_refused_unseen() -> None:
    problems = _problems(age_recipient=PRIVATE_KEY)
    assert problems and all(PRIVATE_KEY not in p and PRIVATE_KEY[16:] not in p for p in problems)
    assert any("an age private key" in p for p in problems)


def test_the_section_is_required() -> None:
    values, secrets = stack_values("prod")
    del values[f"{NS}:backup"]
    problems = [str(p) for p in validate(values, secrets).problems]
    assert any(p.startswith(f"{NS}:backup: got None; expected a value") for p in problems)
