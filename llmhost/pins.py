"""The sha256 of every file llmhost downloads and runs as root at its default versions, pinned here
(llama.cpp's source archive is pinned with its release, in llmhost.engines). Each holds wherever the
file comes from: a mirror's copy is the same bytes. None of these hosts (GitHub, NVIDIA) answers
from the machines llmhost is built on, so each value is the one independent sources agree on, named
beside it; tests/upstream/test_download_pins.py checks them against the publishers where they answer."""

from __future__ import annotations

# Miniforge's installers (llmhost.distros.MINIFORGE_VERSION), as the release's <installer>.sha256
# says: x86_64 in four that agree (conda-incubator/condacolab's condacolab.py at 34c27c6f, which
# checks it as it installs; the AUR miniforge PKGBUILD 25.11.0.1; two lab provisioning
# repositories); aarch64 in the AUR PKGBUILD alone (makepkg checks it on every build).
MINIFORGE_SHA256 = {
    ("25.11.0-1", "x86_64"): "be1bad9d4e67a8753eb76fb4940e9a08036786675c7adf060627e55791bf110d",
    ("25.11.0-1", "aarch64"): "43a3783f9e121088f1c92b131b4305b9ebf159424ad2543dfcfc0f1952b5e127",
}

# NVIDIA's cuda-keyring_1.1-1_all.deb in each repository (llmhost.gpus.CUDA_KEYRING), checked
# before dpkg runs it: ubuntu2404/x86_64 as NVIDIA's own Packages index lists it (Size 4328);
# ubuntu2204 and debian12 (x86_64) as GoogleCloudPlatform/compute-gpu-installation's
# linux/cuda_installer/config.py pins them, with five or more install scripts each; wsl-ubuntu in
# two; ubuntu2404/sbsa in NVIDIA's DGX bootstrap scripts and three more. A repository with no pin
# here (debian13, whose copies disagree; sbsa but 24.04's) needs llmhost_cuda_keyring_sha256.
CUDA_KEYRING_SHA256 = {
    ("ubuntu2204", "x86_64"): "d93190d50b98ad4699ff40f4f7af50f16a76dac3bb8da1eaaf366d47898ff8df",
    ("ubuntu2404", "x86_64"): "d2a6b11c096396d868758b86dab1823b25e14d70333f1dfa74da5ddaf6a06dba",
    ("debian12", "x86_64"): "e7f219eab6fe4819cdb5c15b98233dc3420302d9c00883219cd3d896857cf48d",
    ("wsl-ubuntu", "x86_64"): "eea6cc5f0eaeb99082d054b8c05ae206a378e31e88048df0310d59f651dceed2",
    ("ubuntu2404", "sbsa"): "6ea7d2737648936820e85677177957a0f6521b840d98eb0bbae0a4f003fa7249",
}

# Ollama's release archives (llmhost_ollama_version's default): 0.22.1 amd64 as a NixOS
# configuration's fetchurl pins it (Nix refuses other bytes) and a benchmark's notes list it. Its
# arm64 archive is in no source reachable here: an arm64 host checks it against the release's
# sha256sum.txt, and the plan says so.
OLLAMA_SHA256 = {("0.22.1", "x86_64"): "e27c0fe8f60a824162f81ce07b4bfda767dce4f357d762e149b3d0de0abad9fb"}


def ollama_sha256(version: str, arch: str) -> str | None:
    """llmhost's pin of Ollama ``version``'s archive for a host of ``arch`` (x86_64: its
    ollama-linux-amd64.tar.zst); None: none."""
    return OLLAMA_SHA256.get((version, arch))


# Grafana Labs' APT signing key (its gpg.key, at apt.grafana.com and TUNA's mirror of it), checked
# by its fingerprint before apt trusts it: the value Grafana's install docs publish, as Puppet
# manifests (apt::source key id), provisioning scripts that refuse another key, and a mirror's
# README all give it (2026-12-08: ten sources agree, found with the library's code search).
GRAFANA_KEY_FINGERPRINT = "B53AE77BADB630A683046005963FA27710458545"
