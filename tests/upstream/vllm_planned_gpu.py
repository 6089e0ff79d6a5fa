"""Run with a vLLM GPU venv's Python on a machine without a GPU: `python vllm_planned_gpu.py CC
HOSTTOOL ARGS...` makes vLLM's current platform its CUDA platform with the planned GPUs' compute
capability CC (vLLM's own CudaPlatformBase: only the device queries answer from the plan), then
runs llmhost's hosttool with ARGS (`vllm-check --service ...`), exactly as a host runs it.

vLLM's CUDA platform imports its compiled ops (vllm._C), which link the driver's libcuda.so.1: the
caller puts a real one on LD_LIBRARY_PATH (NVIDIA's, from Debian's libcuda1 package). It loads;
with no GPU and no kernel module nothing calls into it."""

import importlib.util
import sys


def planned_platform(cc: str) -> None:
    from vllm import platforms
    from vllm.platforms.cuda import CudaPlatformBase
    from vllm.platforms.interface import DeviceCapability

    major, minor = (int(x) for x in cc.split("."))

    class Planned(CudaPlatformBase):
        @classmethod
        def get_device_capability(cls, device_id: int = 0) -> DeviceCapability:
            return DeviceCapability(major=major, minor=minor)

        @classmethod
        def get_device_name(cls, device_id: int = 0) -> str:
            return f"the planned GPU (cc {cc})"

        @classmethod
        def device_count(cls) -> int:
            return 1

    platforms._current_platform = Planned()


if __name__ == "__main__":
    cc, tool, *args = sys.argv[1:]
    planned_platform(cc)
    spec = importlib.util.spec_from_file_location("llmhost_hosttool", tool)
    hosttool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hosttool)
    sys.exit(hosttool.main(args))
