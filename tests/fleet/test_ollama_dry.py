"""The Ollama layer against a real systemd fleet host, in `pyinfra --dry`: every fact is read on
the host (files, groups, the Ollama store and the kept Modelfiles), the planner decides, and the
dry run lists the operations the engine and service layers would run for an ollama service (the
release unpacked, the link, the ollama user, the official unit, the drop-in, the daemon, the model
imported). No Ollama release can be downloaded here (GitHub and ollama.com are unreachable), so
nothing is installed and no `ollama serve` runs; the commands of each operation are checked in
tests/unit/test_ollama.py."""

from __future__ import annotations

import time

import pytest

from tests.fleet import harness
from tests.fleet.serving import DATA
from tests.helpers import record_timing

pytestmark = pytest.mark.fleet

OLLAMA = {
    "name": "gguf",
    "model": "./build/models/tiny-qwen2-gguf",
    "engine": "ollama",
    "port": 11434,
    "served_model_name": "tiny-gguf",
    "max_num_seqs": 2,
}


@pytest.fixture(scope="module")
def ollama_host(fleet):
    return fleet("llmhost-fleet-ollama-dry")


def test_the_ollama_layer_plans_install_user_unit_drop_in_and_import(ollama_host):
    inv = str(
        harness.write_inventory(harness.STATE / "ollama-dry.py", [ollama_host], {**DATA, "llmhost_services": [OLLAMA]})
    )
    started = time.monotonic()
    changing, out = harness.dry_run(inv)
    record_timing(f"fleet ollama --dry ({len(changing)} operations would change)", time.monotonic() - started)
    ollama = [n for n in changing if "ollama" in n.lower() or "Ollama" in n]
    assert ollama == [
        "llmhost engine layer | Unpack ollama 0.22.1 from ollama-linux-amd64.tar.zst",
        f"llmhost engine layer | ollama-current -> {ollama_dir(changing)} (ollama --version before it replaces a link)",
        "llmhost service layer | /usr/local/bin/ollama -> /opt/llmhost/venvs/ollama-current/bin/ollama",
        "llmhost service layer | Directory of the Modelfiles (/opt/llmhost/ollama)",
        "llmhost service layer | System group ollama",
        "llmhost service layer | System user ollama (Ollama's own account, home /usr/share/ollama)",
        "llmhost service layer | OLLAMA_MODELS /opt/llmhost/ollama/models",
        "llmhost service layer | Unit ollama.service (Ollama's official unit)",
        "llmhost service layer | Drop-in ollama.service.d/override.conf (every setting of the daemon)",
        "llmhost service layer | Restart ollama (unit, settings or release changed)",
        "llmhost service layer | Run ollama under systemd, enabled at boot",
        "llmhost service layer | Import tiny-gguf into Ollama (/opt/llmhost/ollama/gguf.Modelfile)",
    ], out[-4000:]
    # dry: nothing ran on the host
    assert ollama_host.sh("ls /etc/systemd/system/ | grep -c ollama || true").strip() == "0"


def ollama_dir(names: list[str]) -> str:
    unpack = next(n for n in names if n.startswith("llmhost engine layer | ollama-current -> "))
    return unpack.split(" -> ", 1)[1].split(" ")[0]
