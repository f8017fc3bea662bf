"""docs/recovery.md says what the tool and the program do: every option and scenario of
`python -m tools.recover`, the state export that works with several recipients, the bucket's
lock as the program sets it, how the token is rotated, the first Velero backup."""

from __future__ import annotations

import re

from components.backup.bucket import LOCK_DAYS
from offline.paths import REPO_ROOT
from tools.recover import SCENARIOS
from tools.recover.__main__ import parser

DOC = (REPO_ROOT / "docs/recovery.md").read_text()


def _section(title: str) -> str:
    start = DOC.index(f"\n## {title}\n")
    end = DOC.find("\n## ", start + 1)
    return DOC[start : end if end > 0 else None]


def test_every_option_and_scenario_is_documented() -> None:
    synopsis = DOC[DOC.index("python -m tools.recover --stack STACK") :].split("```")[0]
    for action in parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert flag in synopsis, f"{flag} is not in the synopsis of docs/recovery.md"
    for name in SCENARIOS:
        assert f"\n### {name}: " in DOC


def test_the_state_export_takes_a_recipients_file() -> None:
    assert "age -R age-recipients.txt" in DOC
    # `-r "$(cat file)"` passes every line as one recipient: it breaks with two.
    assert not re.search(r"age -r \"\$\(cat", DOC)


def test_the_bucket_section_says_what_a_change_does() -> None:
    bucket = _section("The bucket")
    assert "`jurisdiction` or `location` replaces the bucket" not in DOC
    assert "replace_on_changes" in bucket and "empty it by hand" in bucket
    location = bucket[bucket.index("`backup.location`") :].split("\n- ")[0]
    assert "creation only" in location and "no replace" in location


def test_the_lock_and_the_token_are_documented_as_the_program_sets_them() -> None:
    bucket = _section("The bucket")
    assert f"for {LOCK_DAYS} days" in bucket and "`etcd/`" in bucket
    assert "`velero/`, is not locked" in bucket
    assert "--target-replace '<token URN>'" in bucket
    assert "account_token/" in bucket and "v5.22.0" in bucket
    assert "A 403 from R2" in bucket


def test_the_first_volume_backup_and_velero_s_metadata_are_documented() -> None:
    assert DOC.count("velero backup create --from-schedule velero-volumes --wait") >= 2
    assert "excludedResources" in DOC and "R2 encrypts it at rest" in DOC
    assert "delete what it deployed" in DOC and "`velero.io`" in DOC
