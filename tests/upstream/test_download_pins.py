"""llmhost's pinned sha256 of the files it downloads and runs as root (llmhost/pins.py) held against
their publishers: NVIDIA's cuda-keyring package itself (4 KiB) from each pinned repository,
Miniforge's <installer>.sha256 and Ollama's sha256sum.txt (a line each; not the archives). Neither
GitHub nor NVIDIA answers from the machines this project is built on: there each test is skipped,
saying so; wherever they answer (a user's machine, CI with the internet) a pin that differs fails
with both values. Cost: one small request each, ~10 s in all where unreachable (one try a host)."""

from __future__ import annotations

import functools
import hashlib
import urllib.error
import urllib.parse
import urllib.request

import pytest

from llmhost.distros import MINIFORGE_INSTALLERS
from llmhost.engines import OLLAMA_ARCH, OLLAMA_RELEASES
from llmhost.gpus import CUDA_KEYRING
from llmhost.pins import CUDA_KEYRING_SHA256, MINIFORGE_SHA256, OLLAMA_SHA256
from llmhost.settings import defaults

pytestmark = pytest.mark.upstream

NVIDIA = defaults()["llmhost_cuda_repo_url"]


@functools.cache
def _unreachable(host: str) -> str | None:
    """Why ``host`` does not answer here (None: it does); tried once a run."""
    try:
        urllib.request.urlopen(f"https://{host}/", timeout=5).close()
    except urllib.error.HTTPError:
        return None  # it answered
    except (urllib.error.URLError, OSError) as e:
        return f"{host} is unreachable from this machine ({getattr(e, 'reason', e)})"
    return None


def fetch(url: str) -> bytes:
    why = _unreachable(urllib.parse.urlsplit(url).hostname)
    if why:
        pytest.skip(why)
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.read()


@pytest.mark.parametrize("repo", sorted(CUDA_KEYRING_SHA256), ids="/".join)
def test_nvidias_keyring_is_the_pinned_bytes(repo):
    distro, arch = repo
    got = hashlib.sha256(fetch(f"{NVIDIA}/{distro}/{arch}/{CUDA_KEYRING}")).hexdigest()
    assert got == CUDA_KEYRING_SHA256[repo], f"{distro}/{arch} {CUDA_KEYRING}: NVIDIA serves {got}"


@pytest.mark.parametrize("pin", sorted(MINIFORGE_SHA256), ids="-".join)
def test_miniforges_published_sha256_is_the_pin(pin):
    version, arch = pin
    installer = MINIFORGE_INSTALLERS["none"].format(v=version, arch=arch)
    published = fetch(f"{installer}.sha256").decode().split()[0]
    assert published == MINIFORGE_SHA256[pin], f"{installer}.sha256 says {published}"


@pytest.mark.parametrize("pin", sorted(OLLAMA_SHA256), ids="-".join)
def test_ollamas_sha256sum_lists_the_pin(pin):
    version, arch = pin
    sums = fetch(f"{OLLAMA_RELEASES}/v{version}/sha256sum.txt").decode()
    filename = f"ollama-linux-{OLLAMA_ARCH[arch]}.tar.zst"
    listed = {line.split()[1].removeprefix("./"): line.split()[0] for line in sums.splitlines() if line.strip()}
    assert listed.get(filename) == OLLAMA_SHA256[pin], f"v{version}'s sha256sum.txt lists {listed.get(filename)}"
