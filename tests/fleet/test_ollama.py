"""The Ollama layer for real on a systemd fleet host, with a stand-in Ollama release
(tests/fleet/ollama_release.py: Ollama's tarball layout and sha256sum.txt; its bin/ollama is a
small Python daemon and client, not Ollama, because no real release can be downloaded here): the
tarball checked against its sha256 (the data's: a URL of its own needs one) and unpacked into its versioned directory behind
ollama-current and /usr/local/bin/ollama, the ollama system user, Ollama's official unit with every
setting in override.conf, the daemon running as ollama with those settings, the tiny model's GGUF
imported from its Modelfile, health and a chat completion through the verify layer; then a second
run that changes nothing, a settings change that rewrites only the drop-in, a context change that
re-imports the model without restarting the daemon, and an "upgrade" that rewrites ollama.service
(as Ollama's install.sh does) after which the settings still hold."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.fleet import harness, ollama_release
from tests.helpers import pyinfra, record_timing

pytestmark = pytest.mark.fleet

VERSION = "0.0.1"
RELEASE_DIR = "/srv/ollama-release"
GGUF = {
    "name": "gguf",
    "model": "./build/models/tiny-qwen2-gguf",
    "engine": "ollama",
    "port": 11434,
    "served_model_name": "tiny-gguf",
    "max_num_seqs": 3,
}
DATA = {
    "llmhost_services": [GGUF],
    "llmhost_ollama_version": VERSION,
    "llmhost_ollama_url": f"file://{RELEASE_DIR}/v{VERSION}/{ollama_release.FILENAME}",
    "llmhost_health_timeout": 120,
}


def stand_in_host(fleet, name: str):
    """A fleet host with the stand-in release in RELEASE_DIR (where llmhost_ollama_url points)."""
    if harness.real_hosts():
        pytest.skip("installs a stand-in Ollama: Docker hosts only")
    release = ollama_release.build(harness.STATE / "ollama-release", VERSION)
    host = fleet(name)
    host.sh(f"mkdir -p {RELEASE_DIR}")
    harness._run("docker", "cp", str(release), f"{host.name}:{RELEASE_DIR}/")
    return host


@pytest.fixture(scope="module")
def ollama_host(fleet):
    return stand_in_host(fleet, "llmhost-fleet-ollama")


def serve(host, label: str, **data):
    # a URL of the data's needs its sha256 (the stand-in's: same bytes every build)
    archive = harness.STATE / "ollama-release" / f"v{VERSION}" / ollama_release.FILENAME
    data = {"llmhost_ollama_sha256": hashlib.sha256(archive.read_bytes()).hexdigest(), **data}
    inv = str(harness.write_inventory(harness.STATE / "ollama.py", [host], {**DATA, **data}))
    r = pyinfra(inv, "deploys/serve.py")
    record_timing(f"fleet ollama (stand-in release): {label} ({len(r.changed)} operations changed)", r.seconds)
    assert r.rc == 0, (r.stdout + r.stderr)[-4000:]
    return r


def seen(host) -> dict:
    """What the daemon reports it was given (the stand-in's chat reply)."""
    body = json.dumps({"model": "tiny-gguf", "messages": [{"role": "user", "content": "Hello"}]})
    answer = json.loads(host.sh(f"curl -sf http://127.0.0.1:11434/v1/chat/completions -d '{body}'"))
    return json.loads(answer["choices"][0]["message"]["content"])


def test_ollama_installed_configured_and_serving_then_idempotent(ollama_host):
    host = ollama_host
    first = serve(host, "first run")
    ollama = [n.split(" | ", 1)[1] for n in first.changed if "ollama" in n.lower()]
    assert ollama[:2] == [
        f"Unpack ollama {VERSION} from {ollama_release.FILENAME}",
        (
            f"ollama-current -> {host.sh('basename $(readlink /opt/llmhost/venvs/ollama-current)').strip()}"
            " (ollama --version before it replaces a link)"
        ),
    ]
    assert "System user ollama (Ollama's own account, home /usr/share/ollama)" in ollama
    assert "Import tiny-gguf into Ollama (/opt/llmhost/ollama/gguf.Modelfile)" in ollama
    assert host.sh("/usr/local/bin/ollama --version").strip() == f"ollama version is {VERSION} (llmhost stand-in)"
    assert host.sh("ls /opt/llmhost/venvs/ollama-current/").split() == ["bin", "lib"]  # archive and sums removed
    assert host.sh("systemctl is-active ollama; systemctl is-enabled ollama").split() == ["active", "enabled"]
    assert host.sh("getent passwd ollama | cut -d: -f6,7").strip() == "/usr/share/ollama:/bin/false"
    dropin = host.sh("cat /etc/systemd/system/ollama.service.d/override.conf")
    assert 'Environment="OLLAMA_NUM_PARALLEL=3"' in dropin
    daemon = seen(host)
    assert daemon["user"] == "ollama"
    assert daemon["env"] == {
        "OLLAMA_HOST": "127.0.0.1:11434",
        "OLLAMA_MODELS": "/opt/llmhost/ollama/models",
        "OLLAMA_NUM_PARALLEL": "3",
        "OLLAMA_MAX_LOADED_MODELS": "1",
        "OLLAMA_KEEP_ALIVE": "5m",
    }
    gguf = "/opt/llmhost/models/tiny-qwen2-gguf/tiny-qwen2-f32.gguf"
    assert daemon["model"]["from"] == gguf and daemon["model"]["parameters"]["num_ctx"] == "2048"
    assert daemon["model"]["sha256"] == host.sh(f"sha256sum {gguf}").split()[0]
    pid = host.sh("systemctl show -p MainPID --value ollama").strip()

    again = serve(host, "second run")
    assert again.changed == []
    assert host.sh("systemctl show -p MainPID --value ollama").strip() == pid


def test_settings_context_and_an_upgraded_unit(ollama_host):
    host = ollama_host
    serve(host, "converged to the module's data")  # (run alone: the first run)
    keep = serve(host, "keep_alive changed", llmhost_ollama_keep_alive="-1")
    assert [n.split(" | ", 1)[1] for n in keep.changed] == [
        "Drop-in ollama.service.d/override.conf (every setting of the daemon)",
        "Reload systemd units",
        "Restart ollama (unit, settings or release changed)",
    ]
    assert seen(host)["env"]["OLLAMA_KEEP_ALIVE"] == "-1"
    pid = host.sh("systemctl show -p MainPID --value ollama").strip()

    ctx = serve(
        host,
        "max_model_len changed",
        llmhost_ollama_keep_alive="-1",
        llmhost_services=[{**GGUF, "max_model_len": 1024}],
    )
    assert [n.split(" | ", 1)[1] for n in ctx.changed] == [
        "Import tiny-gguf into Ollama (/opt/llmhost/ollama/gguf.Modelfile)"
    ]
    assert seen(host)["model"]["parameters"]["num_ctx"] == "1024"
    assert host.sh("systemctl show -p MainPID --value ollama").strip() == pid  # a model import is no restart

    # an Ollama upgrade by its install.sh rewrites ollama.service; the drop-in is not its file
    host.sh(
        "printf '[Unit]\\nDescription=Ollama Service\\n[Service]\\nExecStart=/usr/local/bin/ollama serve\\n"
        'User=ollama\\nGroup=ollama\\nRestart=always\\nEnvironment="PATH=/usr/bin"\\n[Install]\\n'
        "WantedBy=default.target\\n' > /etc/systemd/system/ollama.service && systemctl daemon-reload"
    )
    assert seen(host)["env"]["OLLAMA_KEEP_ALIVE"] == "-1"
    upgraded = serve(
        host,
        "unit rewritten by an upgrade",
        llmhost_ollama_keep_alive="-1",
        llmhost_services=[{**GGUF, "max_model_len": 1024}],
    )
    assert [n.split(" | ", 1)[1] for n in upgraded.changed] == [
        "Unit ollama.service (Ollama's official unit)",
        "Reload systemd units",
        "Restart ollama (unit, settings or release changed)",
    ]
    assert seen(host)["env"]["OLLAMA_KEEP_ALIVE"] == "-1"


def test_under_tmux_the_daemon_gets_the_same_settings_from_its_launcher(fleet):
    host = stand_in_host(fleet, "llmhost-fleet-ollama-tmux")
    first = serve(host, "tmux: first run", llmhost_supervisor="tmux")
    assert {
        "llmhost service layer | Launcher of ollama",
        "llmhost service layer | Restart ollama (settings or release changed)",
        "llmhost service layer | Import tiny-gguf into Ollama (/opt/llmhost/ollama/gguf.Modelfile)",
    } <= set(first.changed)
    assert host.sh("tmux ls -F '#{session_name}'").split() == ["ollama"]
    assert not [n for n in first.changed if "System user" in n or "Unit ollama" in n]  # no account, no unit
    daemon = seen(host)
    assert (
        daemon["env"]["OLLAMA_NUM_PARALLEL"] == "3" and daemon["env"]["OLLAMA_MODELS"] == "/opt/llmhost/ollama/models"
    )
    assert daemon["model"]["parameters"]["num_ctx"] == "2048"
    assert serve(host, "tmux: second run", llmhost_supervisor="tmux").changed == []
