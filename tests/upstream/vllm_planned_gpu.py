"""Run with a vLLM GPU venv's Python on a machine without a GPU: `python vllm_planned_gpu.py HOSTTOOL
SPECS OUT` checks each planned service of SPECS (a JSON list of llmhost-hosttool vllm-check
services: name, parser, argv, cc) with the hosttool's own check, vLLM's current platform being its
CUDA platform answering device queries with the service's planned compute capability (vLLM's own
CudaPlatformBase: its rules, such as check_if_supports_dtype, run unchanged). The general plugins
load first, as vllm-check and vLLM's server load them. Writes [{"name", "problems"}, ...] to OUT.

vLLM's CUDA platform imports its compiled ops (vllm._C), which link the driver's libcuda.so.1: the
caller puts a real one on LD_LIBRARY_PATH (NVIDIA's, from Debian's libcuda1 package). It loads;
with no GPU and no kernel module nothing calls into it."""

import importlib.util
import json
import sys

PLANNED = {"cc": None}


def planned_platform() -> None:
    from vllm import platforms
    from vllm.platforms.cuda import CudaPlatformBase
    from vllm.platforms.interface import DeviceCapability

    class Planned(CudaPlatformBase):
        @classmethod
        def get_device_capability(cls, device_id: int = 0) -> DeviceCapability:
            major, minor = divmod(round(PLANNED["cc"] * 10), 10)
            return DeviceCapability(major=major, minor=minor)

        @classmethod
        def get_device_name(cls, device_id: int = 0) -> str:
            return f"the planned GPU (cc {PLANNED['cc']})"

        @classmethod
        def device_count(cls) -> int:
            return 1

    platforms._current_platform = Planned()


if __name__ == "__main__":
    tool, specs_path, out_path = sys.argv[1:]
    planned_platform()
    spec = importlib.util.spec_from_file_location("llmhost_hosttool", tool)
    hosttool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hosttool)
    with open(specs_path) as f:
        services = json.load(f)
    # what vLLM's modules (and plugins) probe as they import, the lowest planned capability answers
    PLANNED["cc"] = min(service["cc"] for service in services)
    from vllm.plugins import load_general_plugins

    load_general_plugins()
    results = []
    for service in services:
        PLANNED["cc"] = service["cc"]
        results.append({"name": service["name"], "problems": hosttool._vllm_problems(service)})
    with open(out_path, "w") as f:
        json.dump(results, f)
