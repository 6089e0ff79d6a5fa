"""A stand-in for NVIDIA's CUDA apt repository, built on the controller for the fleet: a flat
repository (`<base>/debian12/x86_64/`, NVIDIA's layout) signed with a throw-away GPG key, holding
a `cuda-keyring` package (the key and a source file pointing at NVIDIA, as the real one does) and
`cuda-toolkit-12-9` / `cuda-toolkit-12-6` packages whose files are a stand-in `nvcc` under
`/usr/local/cuda-X.Y` and whose postinst registers the toolkit with update-alternatives at
priority XY, as NVIDIA's cuda-toolkit-config-common does, and empty `nvidia-driver-pinning-580` and
`nvidia-open` (a driver branch installed by an earlier run, its module not loaded yet; NVIDIA's
packaging for 570 and later). Real apt, dpkg, gpgv and
update-alternatives on the host do the rest. (NVIDIA's repository is not reachable here.)
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

DISTRO, ARCH = "debian12", "x86_64"
TOOLKITS = ("12.9", "12.6")


def _deb(
    root: Path,
    name: str,
    version: str,
    arch: str,
    files: dict[str, tuple[str | bytes, int]],
    postinst: str | None = None,
) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / name
        (pkg / "DEBIAN").mkdir(parents=True)
        (pkg / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: llmhost tests <tests@llmhost>\n"
            f"Description: stand-in for NVIDIA's {name} (llmhost fleet tests)\n"
        )
        if postinst:
            (pkg / "DEBIAN" / "postinst").write_text(postinst)
            (pkg / "DEBIAN" / "postinst").chmod(0o755)
        for path, (content, mode) in files.items():
            target = pkg / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
            target.chmod(mode)
        out = root / f"{name}_{version}_{arch}.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(out)], check=True, capture_output=True
        )
        return out


def _stanza(deb: Path) -> str:
    control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True).stdout.strip()
    data = deb.read_bytes()
    return f"{control}\nFilename: ./{deb.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"


def build(base: Path) -> Path:
    """Build the repository under ``base`` (replaced); returns ``base``."""
    shutil.rmtree(base, ignore_errors=True)
    repo = base / DISTRO / ARCH
    repo.mkdir(parents=True)
    gnupg = base.parent / f"{base.name}-gnupg"
    shutil.rmtree(gnupg, ignore_errors=True)
    gnupg.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(gnupg), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run(
        [*gpg, "--quick-gen-key", "llmhost fleet test repository", "ed25519", "sign", "never"],
        check=True,
        capture_output=True,
    )
    key = subprocess.run([*gpg, "--export"], check=True, capture_output=True).stdout
    debs = [
        _deb(
            repo,
            "cuda-keyring",
            "1.1-1",
            "all",
            {
                "/usr/share/keyrings/cuda-archive-keyring.gpg": (key, 0o644),
                f"/etc/apt/sources.list.d/cuda-{DISTRO}-{ARCH}.list": (
                    (
                        "deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] "
                        f"https://developer.download.nvidia.com/compute/cuda/repos/{DISTRO}/{ARCH}/ /\n"
                    ),
                    0o644,
                ),
            },
        )
    ]
    for version in TOOLKITS:
        home = f"/usr/local/cuda-{version}"
        priority = version.replace(".", "")
        nvcc = f'#!/bin/sh\necho "Cuda compilation tools, release {version} (stand-in package)"\n'
        debs.append(
            _deb(
                repo,
                f"cuda-toolkit-{version.replace('.', '-')}",
                f"{version}.0-1",
                "amd64",
                {f"{home}/bin/nvcc": (nvcc, 0o755), f"{home}/lib64/.keep": ("", 0o644)},
                f"#!/bin/sh\nset -e\nupdate-alternatives --install /usr/local/cuda cuda {home} {priority}\n",
            )
        )
    # an installed driver branch, as an earlier run leaves it before the reboot (no module in it)
    for name in ("nvidia-driver-pinning-580", "nvidia-open"):
        debs.append(
            _deb(
                repo,
                name,
                "580.95.05-1",
                "amd64",
                {
                    f"/usr/share/doc/{name}/README": (
                        "stand-in: the branch is installed, its kernel module is not loaded\n",
                        0o644,
                    )
                },
            )
        )
    packages = "\n".join(_stanza(d) for d in debs)
    (repo / "Packages").write_text(packages)
    (repo / "Packages.gz").write_bytes(gzip.compress(packages.encode(), mtime=0))
    sums = "".join(
        f" {hashlib.sha256((repo / n).read_bytes()).hexdigest()} {(repo / n).stat().st_size} {n}\n"
        for n in ("Packages", "Packages.gz")
    )
    (repo / "Release").write_text(
        f"Origin: llmhost-tests\nLabel: stand-in NVIDIA CUDA\nArchitectures: amd64 all\nSHA256:\n{sums}"
    )
    subprocess.run(
        [*gpg, "--clearsign", "-o", str(repo / "InRelease"), str(repo / "Release")], check=True, capture_output=True
    )
    return base
