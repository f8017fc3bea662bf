"""Downloads and disks Proxmox would refuse are plan errors, and the shipped stacks have none.

The URLs are the ones the Image Factory serves for our schematic (`offline/answers.py`, after
terraform-provider-talos' urls data source), each paired with how it is downloaded.
"""

from __future__ import annotations

import pytest

from components.proxmox.image import importable_image_url
from offline.answers import factory_urls
from offline.validators.proxmox import disk_problems, download_problems, plan_problems
from tests.conftest import STACKS, document

URLS = factory_urls("a" * 64, "v1.13.9", "nocloud", "amd64")
QCOW2 = importable_image_url(URLS["diskImage"])


def download(url: str, content: str, name: str, algorithm: str | None = None) -> dict:
    inputs = {"url": url, "contentType": content, "fileName": name, "datastoreId": "local"}
    if algorithm is not None:
        inputs["decompressionAlgorithm"] = algorithm
    return inputs


ACCEPTED = [
    pytest.param(QCOW2, "import", "talos.qcow2", None, id="qcow2-as-import"),
    pytest.param(URLS["iso"], "iso", "talos.iso", None, id="iso-as-iso"),
    pytest.param(URLS["diskImage"].replace(".xz", ".zst"), "iso", "t.img", "zst", id="zst-iso"),
    pytest.param(URLS["diskImage"].replace(".raw.xz", ".raw"), "import", "t.raw", None, id="raw"),
]

REFUSED = [
    # The factory's own nocloud URL (.raw.xz): import content is never decompressed.
    pytest.param(URLS["diskImage"], "import", "talos.raw", None, "compressed", id="xz-import"),
    pytest.param(URLS["diskImage"], "import", "talos.raw", "zst", "only `iso`", id="xz-zst-imp"),
    # Today's pairing before this change: .raw.xz named .img, "zst" for an xz file.
    pytest.param(URLS["diskImage"], "iso", "talos.img", "zst", "not zst", id="xz-as-zst"),
    pytest.param(URLS["diskImage"], "iso", "talos.img", "xz", "there is no xz", id="xz-algo"),
    pytest.param(QCOW2, "import", "talos.raw", None, "format its name says", id="qcow2-as-raw"),
    pytest.param(QCOW2, "import", "talos.img", None, "name ending in", id="import-img"),
    pytest.param(QCOW2, "images", "talos.qcow2", None, "content_type", id="bad-content"),
]


@pytest.mark.parametrize(("url", "content", "name", "algorithm"), ACCEPTED)
def test_downloads_proxmox_accepts(url: str, content: str, name: str, algorithm: str) -> None:
    assert download_problems(download(url, content, name, algorithm)) == []


@pytest.mark.parametrize(("url", "content", "name", "algorithm", "fragment"), REFUSED)
def test_downloads_proxmox_refuses(
    url: str, content: str, name: str, algorithm: str, fragment: str
) -> None:
    problems = download_problems(download(url, content, name, algorithm))
    assert any(fragment in p for p in problems), problems


def test_the_factory_disk_url_is_xz_and_its_qcow2_form_is_uncompressed() -> None:
    assert URLS["diskImage"].endswith("/v1.13.9/nocloud-amd64.raw.xz")
    assert QCOW2.endswith("/v1.13.9/nocloud-amd64.qcow2")
    # nocloud is a cloud platform: the factory urls have no kernel or initramfs for it.
    assert URLS["kernel"] is None and URLS["initramfs"] is None
    with pytest.raises(ValueError, match=r"does not end in \.raw\.xz"):
        importable_image_url(URLS["iso"])


def test_a_disk_from_file_id_needs_ssh_and_is_refused() -> None:
    downloads = {"local:import/t.qcow2": download(QCOW2, "import", "t.qcow2")}
    [problem] = disk_problems({"interface": "scsi0", "fileId": "local:iso/t.img"}, downloads)
    assert "over SSH" in problem
    ok = {"interface": "scsi0", "importFrom": "local:import/t.qcow2", "size": 32}
    assert disk_problems(ok, downloads) == []
    assert "8 GB" in disk_problems({**ok, "size": None}, downloads)[0]
    assert "no downloaded image" in disk_problems({**ok, "importFrom": "x:import/y"}, {})[0]


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_download_and_import_what_proxmox_accepts(stack: str) -> None:
    assert plan_problems(document(stack)["resources"]) == []
