"""Model sources on @local, for real: `deploys/models.py` against a real hub server (olah serving
the tiny model as a git repository with an LFS object), a directory already on the host, and the
controller's lock.

hub: fetch + verify + lock -> a second run changes nothing -> a truncated file is re-fetched alone
-> a flipped byte is caught by llmhost_verify=full -> the lock pins the commit after the hub moved ->
an interrupted download completes on the next run, keeping the files it had finished.
host: a directory already on the host is recorded, then a change to it is refused.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import PYINFRA, REPO, pyinfra, record_timing
from tests.hub import fresh_hub, model_files

ROOT = "/opt/llmhost-e2e-models"  # not /opt/llmhost: the serve tests own that
WORK = REPO / "build" / "e2e-models"
LOCK = WORK / "lock"
TINY_REPO = "tiny-qwen2"
BIG_REPO = "tiny-qwen2-big"  # the tiny model plus 96 MiB of weights: slow enough to interrupt
MODELS = Path(ROOT) / "models"


@pytest.fixture(scope="module")
def hub(tiny_model, local_host_ready):
    shutil.rmtree(ROOT, ignore_errors=True)
    shutil.rmtree(WORK, ignore_errors=True)
    hub = fresh_hub(WORK / "hub")
    tiny = model_files(tiny_model)
    hub.publish(TINY_REPO, tiny)
    hub.publish(BIG_REPO, {**tiny, "extra/big.safetensors": random.Random(7).randbytes(96 * 2**20)})
    hub.start(str(Path(sys.executable).with_name("olah-cli")))
    yield hub
    hub.stop()


def inventory(hub, model: str, **data) -> str:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "inventory.py"
    host_data = {
        "llmhost_root": ROOT,
        "llmhost_services": [{"name": "tiny", "model": model, "engine": "vllm-cpu"}],
        "llmhost_hf_endpoint": hub.url,
        "llmhost_model_lock_dir": str(LOCK),
        **data,
    }
    path.write_text(f"models_e2e = [('@local', {host_data!r})]\n")
    return str(path)


def models(inv: str, label: str, *extra: str):
    run = pyinfra(inv, "deploys/models.py", *extra)
    record_timing(f"models: {label} ({len(run.changed)} operations changed)", run.seconds)
    return run


def ok(run):
    assert run.rc == 0, run.stderr[-4000:]
    return run


def model_ops(run) -> list[str]:
    return [name for name in run.changed if "| Model " in name]


def local_dir(repo: str) -> Path:
    return MODELS / f"llmhost-test--{repo}"


def lock_entry(repo: str) -> Path:
    return LOCK / f"hf--llmhost-test--{repo}.json"


def test_hub_model_is_fetched_verified_and_locked(hub, tiny_model):
    run = ok(
        models(inventory(hub, f"hf:llmhost-test/{TINY_REPO}"), "hub model: first fetch (model-tools venv, fetch, lock)")
    )
    assert len(model_ops(run)) == 1
    assert any("| Lock hf:llmhost-test/tiny-qwen2" in name for name in run.changed)
    assert model_files(local_dir(TINY_REPO)) == model_files(tiny_model)  # same bytes
    manifest = json.loads((MODELS / "llmhost-test--tiny-qwen2.manifest.json").read_text())
    assert manifest["revision"] == hub.head(TINY_REPO) and manifest["source"] == "hf:llmhost-test/tiny-qwen2"
    assert (
        manifest["files"]["model.safetensors"]["sha256"]
        == __import__("hashlib").sha256((tiny_model / "model.safetensors").read_bytes()).hexdigest()
    )
    # the controller's lock is the host's manifest, byte for byte
    assert lock_entry(TINY_REPO).read_bytes() == (MODELS / "llmhost-test--tiny-qwen2.manifest.json").read_bytes()
    # beside it, the hub metadata the plan used (read on the controller before any change)
    meta = json.loads(lock_entry(TINY_REPO).with_suffix(".meta.json").read_text())
    assert meta["revision"] == hub.head(TINY_REPO) and meta["config"]["architectures"] == ["Qwen2ForCausalLM"]
    assert meta["files"]["model.safetensors"] == (tiny_model / "model.safetensors").stat().st_size


def test_a_typo_d_hub_id_is_refused_before_any_change(hub):
    """The hub's metadata is read on the controller first: a repository it does not have is one
    line with a did-you-mean, and the host is not touched (no model directory, no venv)."""
    before = sorted(p.name for p in Path(ROOT).rglob("*")) if Path(ROOT).exists() else []
    run = models(inventory(hub, "hf:llmhost-test/tiny-qwen2x"), "hub model: typo refused")
    assert run.rc != 0 and run.changed == []
    assert "llmhost_services[0].model: llmhost-test/tiny-qwen2x is not a model repository on" in run.stderr
    assert (sorted(p.name for p in Path(ROOT).rglob("*")) if Path(ROOT).exists() else []) == before


def test_second_run_changes_nothing(hub):
    assert ok(models(inventory(hub, f"hf:llmhost-test/{TINY_REPO}"), "hub model: no-op re-run")).changed == []


def test_a_truncated_file_is_fetched_again_alone(hub, tiny_model):
    d = local_dir(TINY_REPO)
    weights_mtime = (d / "model.safetensors").stat().st_mtime_ns
    os.truncate(d / "tokenizer.json", 100)
    run = ok(models(inventory(hub, f"hf:llmhost-test/{TINY_REPO}"), "hub model: truncated file re-fetched"))
    assert len(model_ops(run)) == 1 and len(run.changed) == 1
    assert (d / "tokenizer.json").read_bytes() == (tiny_model / "tokenizer.json").read_bytes()
    assert (d / "model.safetensors").stat().st_mtime_ns == weights_mtime  # not fetched again


def test_a_flipped_byte_is_caught_by_full_verification(hub, tiny_model):
    d = local_dir(TINY_REPO)
    inv = inventory(hub, f"hf:llmhost-test/{TINY_REPO}")
    with open(d / "model.safetensors", "r+b") as f:
        f.seek(4096)
        byte = f.read(1)
        f.seek(4096)
        f.write(bytes([byte[0] ^ 0xFF]))
    tokenizer_mtime = (d / "tokenizer.json").stat().st_mtime_ns
    # sizes are right and the manifest is intact: the cheap check cannot see a flipped byte
    assert ok(models(inv, "hub model: flipped byte, cheap check")).changed == []
    run = ok(models(inv, "hub model: flipped byte, llmhost_verify=full", "--data", "llmhost_verify=full"))
    assert len(model_ops(run)) == 1 and len(run.changed) == 1
    assert (d / "model.safetensors").read_bytes() == (tiny_model / "model.safetensors").read_bytes()
    assert (d / "tokenizer.json").stat().st_mtime_ns == tokenizer_mtime
    assert ok(models(inv, "hub model: llmhost_verify=full again", "--data", "llmhost_verify=full")).changed == []


def test_the_lock_pins_the_commit_after_the_hub_moved(hub, tiny_model):
    inv = inventory(hub, f"hf:llmhost-test/{TINY_REPO}")
    locked = json.loads(lock_entry(TINY_REPO).read_text())
    moved = hub.publish(TINY_REPO, {"README.md": b"# moved on\n", "generation_config.json": b'{"moved": true}\n'})
    assert moved != locked["revision"]
    # a rebuilt host: nothing there; the same command fetches the locked commit, not the new head
    shutil.rmtree(local_dir(TINY_REPO))
    (MODELS / "llmhost-test--tiny-qwen2.manifest.json").unlink()
    ok(models(inv, "hub model: rebuild from the lock after the hub moved"))
    assert model_files(local_dir(TINY_REPO)) == model_files(tiny_model)
    assert json.loads(lock_entry(TINY_REPO).read_text()) == locked
    # deleting the lock entry re-resolves: the new head, whose files replace the old ones
    lock_entry(TINY_REPO).unlink()
    ok(models(inv, "hub model: lock entry deleted, re-resolved"))
    now = json.loads(lock_entry(TINY_REPO).read_text())
    assert now["revision"] == moved and "README.md" in now["files"]
    assert (local_dir(TINY_REPO) / "generation_config.json").read_bytes() == b'{"moved": true}\n'


def test_an_interrupted_download_completes_on_the_next_run(hub):
    inv = inventory(hub, f"hf:llmhost-test/{BIG_REPO}")
    d = local_dir(BIG_REPO)
    partial = d / ".cache" / "huggingface" / "download" / "extra"
    proc = subprocess.Popen(
        [PYINFRA, "-y", inv, "deploys/models.py"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = time.monotonic()
    seen = 0
    while time.monotonic() - started < 300 and proc.poll() is None:
        seen = max((p.stat().st_size for p in partial.glob("*.incomplete")), default=0) if partial.exists() else 0
        if seen > 4 * 2**20:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the download finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    record_timing(f"models: download interrupted after {seen / 2**20:.0f} MiB of 96", time.monotonic() - started)
    assert not (MODELS / f"llmhost-test--{BIG_REPO}.manifest.json").exists()
    finished = {p.name: p.stat().st_mtime_ns for p in d.glob("*.json")}  # the small files it had finished
    assert finished

    run = ok(models(inv, "hub model: the interrupted download completed"))
    assert len(model_ops(run)) == 1
    manifest = json.loads((MODELS / f"llmhost-test--{BIG_REPO}.manifest.json").read_text())
    big = (d / "extra" / "big.safetensors").read_bytes()
    assert big == random.Random(7).randbytes(96 * 2**20)
    assert manifest["files"]["extra/big.safetensors"]["size"] == len(big)
    # what had finished before the interruption was checked against the hub's hashes and kept
    assert {name: (d / name).stat().st_mtime_ns for name in finished} == finished
    # the partial file of the killed run (huggingface_hub >= 2 never continues it) is gone, not leaked
    assert not list(partial.glob("*.incomplete"))


def test_a_directory_already_on_the_host(hub, tiny_model):
    data = Path(ROOT) / "data" / "tiny"
    shutil.copytree(tiny_model, data)
    inv = inventory(hub, f"host:{data}")
    manifest = MODELS / "host--opt--llmhost-e2e-models--data--tiny.manifest.json"
    run = ok(models(inv, "host: directory recorded"))
    assert len(model_ops(run)) == 1 and manifest.exists()
    assert ok(models(inv, "host: directory unchanged")).changed == []
    (data / "config.json").write_text((data / "config.json").read_text() + " ")
    refused = models(inv, "host: directory changed (refused)")
    assert refused.rc != 0
    assert "files changed since llmhost recorded the directory: config.json (delete " in refused.stderr
    assert model_files(data)["config.json"].endswith(b" ")  # llmhost never writes into a host: directory
    manifest.unlink()  # accept the directory as it is now
    assert len(model_ops(ok(models(inv, "host: change accepted (manifest deleted)")))) == 1


def test_one_gguf_of_a_repository_is_fetched_alone_and_checked(hub):
    """A hub GGUF (model "hf:org/name/file.gguf"): llmhost-hosttool fetch --file, as the model layer
    runs it, takes that file only (not the repository's other quantizations), checked against the
    hub's LFS sha256, into a manifest that lists it alone. (Through the model layer a GGUF needs the
    catalog's numbers for the planner, which a test repository has not: the fetch is run directly.)"""
    from tests.conftest import TINY_GGUF

    gguf = next(TINY_GGUF.glob("*.gguf"))
    hub.publish(
        "tiny-qwen2-gguf",
        {
            gguf.name: gguf.read_bytes(),
            "tiny-qwen2-q2.gguf": random.Random(3).randbytes(2**20),
            "README.md": b"# two quantizations\n",
        },
    )
    dest, manifest = MODELS / "llmhost-test--tiny-qwen2-gguf--tiny-qwen2-f32", MODELS / "gguf.manifest.json"
    spec = f"hf:llmhost-test/tiny-qwen2-gguf/{gguf.name}"
    cmd = [
        sys.executable,
        str(REPO / "llmhost" / "hostside" / "llmhost_hosttool.py"),
        "fetch",
        "--source",
        "hf",
        "--repo",
        "llmhost-test/tiny-qwen2-gguf",
        "--spec",
        spec,
        "--endpoint",
        hub.url,
        "--file",
        gguf.name,
        "--dest",
        str(dest),
        "--manifest",
        str(manifest),
    ]
    started = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    record_timing("models: one GGUF of a hub repository (llmhost-hosttool fetch --file)", time.monotonic() - started)
    assert model_files(dest) == {gguf.name: gguf.read_bytes()}
    entry = json.loads(manifest.read_text())
    assert entry["source"] == spec and list(entry["files"]) == [gguf.name]
    mtime = (dest / gguf.name).stat().st_mtime_ns
    subprocess.run(cmd, check=True, capture_output=True, text=True)  # again: checked, not fetched
    assert (dest / gguf.name).stat().st_mtime_ns == mtime
    missing = subprocess.run([*cmd[:-6], "--file", "nope.gguf", *cmd[-4:]], capture_output=True, text=True, check=False)
    assert missing.returncode != 0 and "lists no nope.gguf" in missing.stdout + missing.stderr
