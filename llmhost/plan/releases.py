"""Which vLLM GPU release a host gets: the newest its GPUs support, unless the driver it keeps is
too old for it (CUDA minor-version compatibility, llmhost/gpus.py), then the newest that runs on
that driver, with what an upgrade would bring. Read by the route, the sizing, the engine plan and
the driver step, so all of them see one choice."""

from __future__ import annotations

from dataclasses import dataclass

from llmhost.engines import EngineRelease, vllm_gpu_releases
from llmhost.gpus import DRIVER_BRANCH, compute_capability, driver_tuple, wheel_min_driver
from llmhost.plan.inputs import HostFacts
from llmhost.served import SERVES
from llmhost.settings import Settings


@dataclass(frozen=True)
class VllmChoice:
    """The vLLM GPU release a host gets (None: none supports or runs on it, ``refusal`` says why
    where its driver is the reason), the reasons for it, and the newer release a driver upgrade
    would bring (None: it is the newest)."""

    release: EngineRelease | None
    reasons: tuple[str, ...]
    refusal: str | None
    upgrade_brings: EngineRelease | None = None


def gpus_cc(facts: HostFacts) -> float | None:
    """The lowest compute capability of the host's GPUs (None: no GPUs, or one not known)."""
    ccs = [compute_capability(g.name, g.compute_capability) for g in facts.gpus]
    return min(ccs) if ccs and None not in ccs else None


def gained(old: EngineRelease, new: EngineRelease) -> str:
    """What moving from vLLM ``old`` to ``new`` brings, by their architecture lists."""
    more = sorted(SERVES[(new.engine, new.version)] - SERVES[(old.engine, old.version)])
    return f"{len(more)} more model architectures, e.g. {', '.join(more[:3])}" if more else "no new architectures"


def vllm_release(facts: HostFacts, settings: Settings) -> VllmChoice:
    """The vLLM GPU release for this host: the newest that supports its GPUs, unless its driver is
    kept (llmhost_driver = "keep", or inside WSL, where it is Windows') and too old for it: then the
    newest that runs on that driver (its CUDA's minor-version compatibility, llmhost/gpus.py), and
    what an upgrade would bring. A host without a driver yet gets one that runs them all."""
    cc = gpus_cc(facts)
    releases = vllm_gpu_releases(cc) if cc is not None else []
    if not releases:
        return VllmChoice(None, (), None)
    newest = releases[0]
    found = facts.gpu_driver
    kept = facts.wsl or settings.driver == "keep"
    if found is None or not kept:
        return VllmChoice(newest, (), None)

    def needs(release: EngineRelease) -> tuple[str, str]:
        return wheel_min_driver(release.cuda, facts.wsl, cc)

    runs = [r for r in releases if driver_tuple(found) >= driver_tuple(needs(r)[0])]
    whose = "Windows' driver (WSL)" if facts.wsl else 'the driver, kept (llmhost_driver = "keep")'
    upgrade = (
        "update the NVIDIA driver on Windows"
        if facts.wsl
        else f'llmhost_driver = "upgrade" installs branch {DRIVER_BRANCH} (a reboot)'
    )
    if not runs:
        oldest = releases[-1]
        return VllmChoice(
            None,
            (),
            f"{whose} is {found}; the oldest vLLM llmhost pins for cc {cc}, {oldest.version} (CUDA "
            f"{oldest.cuda}), needs >= {needs(oldest)[0]} ({needs(oldest)[1]}): {upgrade}",
        )
    chosen = runs[0]
    runs_it = f"{whose} {found} runs CUDA {chosen.cuda} (>= {needs(chosen)[0]}, {needs(chosen)[1]})"
    if chosen is newest:
        return VllmChoice(newest, (f"vllm {newest.version}: {runs_it}",), None)
    brings = (
        f"vllm {newest.version} (CUDA {newest.cuda}) needs >= {needs(newest)[0]}: {upgrade} and brings it "
        f"({gained(chosen, newest)})"
    )
    return VllmChoice(chosen, (f"vllm {chosen.version} ({chosen.variant}): {runs_it}; {brings}",), None, newest)
