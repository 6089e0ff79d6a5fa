"""The engine directory and the full cmake flags of the llama.cpp build that `llmhost plan` printed
(its reason line shows the backend's flags after the release's, which are llmhost.engines'),
as "DIRECTORY FLAG..." on one line ("-" when the plan builds nothing). Used by run.sh; the unit
test tests/unit/test_gpu_acceptance.py holds it to the planner's own reason text."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from llmhost.engines import LLAMACPP_SOURCE

LINE = re.compile(r"engine (\S+): llama-server built with cmake \((.*?), -j\d+\)")


def planned_build(text: str) -> tuple[str, tuple[str, ...]]:
    m = LINE.search(text)
    if not m:
        return "-", ()
    base = LLAMACPP_SOURCE.cmake_flags
    return m.group(1), base + tuple(f for f in m.group(2).split() if f not in base)


if __name__ == "__main__":
    directory, flags = planned_build(Path(sys.argv[1]).read_text())
    print(directory, *flags)
