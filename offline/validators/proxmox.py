"""What Proxmox VE and the bpg provider refuse, checked on the plan before anything is created.

A download the node refuses fails `pulumi up` minutes in, after the VMs' other resources exist;
a disk built from `file_id` needs SSH access to every host, which this program does not
configure. Each rule names the upstream code it follows:

- bpg/terraform-provider-proxmox `fwprovider/nodes/resource_download_file.go`: `content_type`
  one of iso, vztmpl, import; `decompression_algorithm` one of gz, lzo, zst, bz2.
- proxmox/pve-storage `src/PVE/API2/Storage/Status.pm` (download_url): "decompression not
  supported for $content" unless the content is `iso`; the file name must fit the content
  (`src/PVE/Storage.pm`: `$ISO_EXT_RE_0` `.iso`/`.img`, `$VZTMPL_EXT_RE_1` `.tar.{gz,xz,zst}`,
  and for downloads of `import` content `.ova`, `.qcow2`, `.raw`, `.vmdk`), and an imported
  image is opened as the format its extension names (`file_size_info(..., $image_format, 1)`).
- bpg `proxmoxtf/resource/vm/disk/disk.go` (`createCustomDisk`): a disk from `file_id` is made
  with `qm disk import` over SSH; `import_from` goes through the API and needs an `images` or
  `import` volume (qemu-server `src/PVE/API2/Qemu.pm`), and compressed downloads cannot be used
  with it (bpg docs, `disk.import_from`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

DOWNLOAD_TYPES = ("proxmoxve:download/file:File", "proxmoxve:download/fileLegacy:FileLegacy")
VM_TYPE = "proxmoxve:index/vmLegacy:VmLegacy"

CONTENT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "iso": (".iso", ".img"),
    "import": (".ova", ".qcow2", ".raw", ".vmdk"),
    "vztmpl": (".tar.gz", ".tar.xz", ".tar.zst"),
}
DECOMPRESSION_SUFFIX = {"gz": ".gz", "lzo": ".lzo", "zst": ".zst", "bz2": ".bz2"}
COMPRESSION_SUFFIXES = (".gz", ".lzo", ".zst", ".bz2", ".xz")
"""Suffixes of compressed files: the Image Factory serves `.xz`, `.zst` and `.gz` disks."""
IMPORT_FORMATS = (".qcow2", ".raw", ".vmdk", ".ova")


def download_problems(inputs: dict[str, Any]) -> list[str]:
    """Why Proxmox would refuse this download (`download.File` inputs, camelCase)."""
    content = str(inputs.get("contentType"))
    algorithm = inputs.get("decompressionAlgorithm")
    name = str(inputs.get("fileName", ""))
    url_path = urlsplit(str(inputs.get("url", ""))).path
    problems: list[str] = []
    if content not in CONTENT_EXTENSIONS:
        return [f"content_type {content!r}: expected one of {', '.join(CONTENT_EXTENSIONS)}"]
    if algorithm is not None and algorithm not in DECOMPRESSION_SUFFIX:
        problems.append(
            f"decompression_algorithm {algorithm!r}: expected one of "
            f"{', '.join(DECOMPRESSION_SUFFIX)} (there is no xz)"
        )
    if algorithm is not None and content != "iso":
        problems.append(
            f"decompression_algorithm {algorithm!r} with content_type {content!r}: Proxmox "
            "decompresses only `iso` downloads ('decompression not supported for import')"
        )
    extensions = CONTENT_EXTENSIONS[content]
    if not name.lower().endswith(extensions):
        problems.append(
            f"file_name {name!r}: {content} content needs a name ending in {', '.join(extensions)}"
        )
    compressed = url_path.endswith(COMPRESSION_SUFFIXES)
    if compressed and algorithm is None:
        problems.append(
            f"url {url_path.rsplit('/', 1)[-1]!r} is compressed and nothing decompresses it: "
            "the node would store the compressed bytes under a disk image's name"
        )
    if algorithm in DECOMPRESSION_SUFFIX and not url_path.endswith(
        DECOMPRESSION_SUFFIX[str(algorithm)]
    ):
        problems.append(
            f"url {url_path.rsplit('/', 1)[-1]!r} is not {algorithm}-compressed; "
            f"decompression_algorithm {algorithm!r} names another format"
        )
    if content == "import" and not compressed:
        source = next((f for f in IMPORT_FORMATS if url_path.endswith(f)), None)
        target = next((f for f in IMPORT_FORMATS if name.endswith(f)), None)
        if source != target:
            problems.append(
                f"url {url_path.rsplit('/', 1)[-1]!r} saved as {name!r}: Proxmox reads an "
                f"imported image as the format its name says ({target}), not {source}"
            )
    return problems


def disk_problems(disk: dict[str, Any], downloads: dict[str, dict[str, Any]]) -> list[str]:
    """Why a VM disk could not be created through the API (`VmLegacy.disks[i]`)."""
    interface = disk.get("interface", "?")
    problems: list[str] = []
    if disk.get("fileId"):
        problems.append(
            f"disk {interface}: file_id is imported over SSH (`qm disk import`), and the "
            "provider has no ssh block; use import_from (Proxmox VE 8.4+)"
        )
    source = disk.get("importFrom")
    if source:
        image = downloads.get(str(source))
        if image is None:
            problems.append(f"disk {interface}: import_from {source!r} is no downloaded image")
        elif image.get("contentType") != "import" or image.get("decompressionAlgorithm"):
            problems.append(
                f"disk {interface}: import_from {source!r} must be an uncompressed download "
                "of content type `import`"
            )
        if not disk.get("size"):
            problems.append(
                f"disk {interface}: import_from without size makes an 8 GB disk (bpg default)"
            )
    return problems


def plan_problems(resources: list[dict[str, Any]]) -> list[str]:
    """Every refused download and disk of a plan document, each naming its resource."""
    problems: list[str] = []
    downloads: dict[str, dict[str, Any]] = {}
    for resource in resources:
        if resource["type"] in DOWNLOAD_TYPES:
            inputs = resource["inputs"]
            file_id = f"{inputs.get('datastoreId')}:{inputs.get('contentType')}/"
            downloads[file_id + str(inputs.get("fileName"))] = inputs
            problems += [f"resource {resource['name']}: {p}" for p in download_problems(inputs)]
    for resource in resources:
        if resource["type"] == VM_TYPE:
            for disk in resource["inputs"].get("disks") or []:
                problems += [
                    f"resource {resource['name']}: {p}" for p in disk_problems(disk, downloads)
                ]
    return problems
