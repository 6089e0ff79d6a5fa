"""llama.cpp's server built on the host from a pinned source archive."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import File

from llmhost.operations.download import checked

BUILT = ".llmhost-build"  # made first: orders the builds by age (pruning), like a venv's pyvenv.cfg


@operation()
def built(directory: str, url: str, filename: str, sha256: str, subdir: str, flags: list[str],
          targets: list[str], jobs: int = 1):  # fmt: skip
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
    if host.get_fact(File, path=f"{directory}/bin/{targets[0]}"):
        host.noop(f"{directory}/bin/{targets[0]} is built")
        return
    src, build, archive = f"{directory}/src", f"{directory}/build", f"{directory}/src/{filename}"
    yield StringCommand("mkdir", "-p", QuoteString(f"{directory}/bin"), QuoteString(src))
    yield StringCommand("[", "-e", QuoteString(f"{directory}/{BUILT}"), "]", "||", "touch", QuoteString(f"{directory}/{BUILT}"))
    yield from checked(url, archive, sha256)
    yield StringCommand("tar", "-xzf", QuoteString(archive), "-C", QuoteString(src))
    yield StringCommand("cmake", "-S", QuoteString(f"{src}/{subdir}"), "-B", QuoteString(build),
                        *(QuoteString(f) for f in flags))  # fmt: skip
    yield StringCommand("cmake", "--build", QuoteString(build), "--target", *(QuoteString(t) for t in targets),
                        "-j", str(jobs))  # fmt: skip
    for target in targets:
        yield StringCommand("install", "-m", "755", QuoteString(f"{build}/bin/{target}"),
                            QuoteString(f"{directory}/bin/{target}"))  # fmt: skip
    yield StringCommand("rm", "-rf", QuoteString(build), QuoteString(src))
