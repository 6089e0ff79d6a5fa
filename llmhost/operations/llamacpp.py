"""llama.cpp's server built on the host from a pinned source archive."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import File, FileContents, Sha256File

from llmhost.facts import prefetch
from llmhost.facts.prefetch import reads
from llmhost.operations.download import checked

BUILT = ".llmhost-build"  # made first: orders the builds by age (pruning), like a venv's pyvenv.cfg


@reads(
    lambda directory, url, filename, sha256, subdir, flags, targets, **_: [
        (File, {"path": f"{directory}/bin/{targets[0]}"})
    ]
)
@operation()
def built(
    directory: str,
    url: str,
    filename: str,
    sha256: str,
    subdir: str,
    flags: list[str],
    targets: list[str],
    jobs: int = 1,
    tools: list[str] | None = None,
    source_key: str | None = None,
):
    """
    Build llama.cpp's ``targets`` with cmake into ``directory/bin``, from a source archive checked
    by its sha256.

    + directory: the versioned build directory (its name carries the source and the flags)
    + url: the archive (https://, or file:// for one shipped in the wheelhouse)
    + filename: the archive's file name
    + sha256: the archive's sha256; a mismatch stops before anything is built
    + subdir: the CMake project inside the archive (``llama_cpp_python-0.3.36/vendor/llama.cpp``)
    + flags: cmake ``-D`` flags (backend, what to leave out)
    + targets: what to build; each lands in ``directory/bin``
    + jobs: parallel compile jobs
    + tools: paths in the project kept in ``directory/convert`` (llama.cpp's HF -> GGUF converter)
    + source_key: the data key that sets ``url``, named when it cannot be fetched (bounded time)

    A directory whose first target is already there changes nothing. The sources and the build
    tree are removed after a build (hundreds of MB); a failed build leaves them for the next run.

    **Example:**

    .. code:: python

        llamacpp.built(
            name="Build llama-server",
            directory="/opt/llmhost/venvs/llamacpp-0.3.36-1a2b3c4d",
            url="https://files.pythonhosted.org/packages/ec/e9/.../llama_cpp_python-0.3.36.tar.gz",
            filename="llama_cpp_python-0.3.36.tar.gz",
            sha256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
            subdir="llama_cpp_python-0.3.36/vendor/llama.cpp",
            flags=["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON"],
            targets=["llama-server"],
            jobs=2,
        )
    """
    if prefetch.get(host, File, path=f"{directory}/bin/{targets[0]}"):
        host.noop(f"{directory}/bin/{targets[0]} is built")
        return
    src, build, archive = f"{directory}/src", f"{directory}/build", f"{directory}/src/{filename}"
    yield StringCommand("mkdir", "-p", QuoteString(f"{directory}/bin"), QuoteString(src))
    yield StringCommand(
        "[", "-e", QuoteString(f"{directory}/{BUILT}"), "]", "||", "touch", QuoteString(f"{directory}/{BUILT}")
    )
    yield from checked(url, archive, sha256, source_key)
    yield StringCommand("tar", "-xzf", QuoteString(archive), "-C", QuoteString(src))
    yield StringCommand(
        "cmake", "-S", QuoteString(f"{src}/{subdir}"), "-B", QuoteString(build), *(QuoteString(f) for f in flags)
    )
    yield StringCommand(
        "cmake", "--build", QuoteString(build), "--target", *(QuoteString(t) for t in targets), "-j", str(jobs)
    )
    for target in targets:
        yield StringCommand(
            "install", "-m", "755", QuoteString(f"{build}/bin/{target}"), QuoteString(f"{directory}/bin/{target}")
        )
    if tools:
        yield StringCommand("mkdir", "-p", QuoteString(f"{directory}/convert"))
        yield StringCommand(
            "cp", "-r", *(QuoteString(f"{src}/{subdir}/{t}") for t in tools), QuoteString(f"{directory}/convert/")
        )
    yield StringCommand("rm", "-rf", QuoteString(build), QuoteString(src))


SOURCE = ".llmhost-source"  # in a converted GGUF's directory: the sha256 of the manifest it was made from


@reads(lambda source, source_manifest, output, *_, **__: [(File, {"path": output})])
@operation()
def converted(
    source: str,
    source_manifest: str,
    output: str,
    quant: str,
    outtype: str,
    python: str,
    script: str,
    quantize: str,
    manifest: str,
    spec: str,
    host_python: str,
    tool: str,
    threads: int = 1,
    force: bool = False,
):
    """
    A GGUF of an HF checkpoint, made on the host with llama.cpp's own tools: ``convert_hf_to_gguf.py``
    (to ``outtype``), then ``llama-quantize`` to ``quant``; the result gets a sha256 manifest.

    + source: the HF checkpoint's directory (config.json, safetensors, tokenizer)
    + source_manifest: its manifest; the GGUF is made again when that changes
    + output: the GGUF file to make (its directory holds nothing else)
    + quant: llama-quantize's type (``Q4_K_M``); ``F16``/``BF16``: the converter's output as is
    + outtype: what the converter writes (``f16``, ``bf16``)
    + python: the converter venv's Python; script: ``convert_hf_to_gguf.py``; quantize: ``llama-quantize``
    + manifest: the GGUF directory's manifest; spec: its recorded source
    + host_python, tool: the Python and llmhost-hosttool that write that manifest
    + threads: llama-quantize's threads
    + force: make it again even when the recorded source matches (the checkpoint changed in this run)

    **Example:**

    .. code:: python

        llamacpp.converted(
            name="GGUF Q4_K_M of tiny-qwen2",
            source="/opt/llmhost/models/tiny-qwen2",
            source_manifest="/opt/llmhost/models/tiny-qwen2.manifest.json",
            output="/opt/llmhost/models/tiny-qwen2--gguf-Q4_K_M/tiny-qwen2-Q4_K_M.gguf",
            quant="Q4_K_M",
            outtype="f16",
            python="/opt/llmhost/venvs/gguf-convert-current/bin/python",
            script="/opt/llmhost/venvs/llamacpp-current/convert/convert_hf_to_gguf.py",
            quantize="/opt/llmhost/venvs/llamacpp-current/bin/llama-quantize",
            manifest="/opt/llmhost/models/tiny-qwen2--gguf-Q4_K_M.manifest.json",
            spec="./build/models/tiny-qwen2 as GGUF Q4_K_M",
            host_python="python3",
            tool="/opt/llmhost/bin/llmhost-hosttool",
        )
    """
    directory = output.rsplit("/", 1)[0]
    if not force and prefetch.get(host, File, path=output):
        recorded = host.get_fact(FileContents, path=f"{directory}/{SOURCE}") or []
        if recorded and recorded[0].strip() == host.get_fact(Sha256File, path=source_manifest):
            host.noop(f"{output} is made from {source} as its manifest is now")
            return
    partial = f"{output}.part"
    converter_out = f"{directory}/.{outtype}.gguf" if quant.lower() != outtype else partial
    yield StringCommand("mkdir", "-p", QuoteString(directory))
    yield StringCommand(
        QuoteString(python),
        QuoteString(script),
        QuoteString(source),
        "--outtype",
        outtype,
        "--outfile",
        QuoteString(converter_out),
    )
    if converter_out != partial:
        yield StringCommand(
            QuoteString(quantize), QuoteString(converter_out), QuoteString(partial), quant, str(threads)
        )
        yield StringCommand("rm", "-f", QuoteString(converter_out))
    yield StringCommand("mv", QuoteString(partial), QuoteString(output))
    yield StringCommand(
        "sha256sum",
        QuoteString(source_manifest),
        "|",
        "cut",
        "-d",
        "' '",
        "-f1",
        ">",
        QuoteString(f"{directory}/{SOURCE}"),
    )
    yield StringCommand(
        QuoteString(host_python),
        QuoteString(tool),
        "manifest",
        "--dir",
        QuoteString(directory),
        "--manifest",
        QuoteString(manifest),
        "--source",
        QuoteString(spec),
    )
