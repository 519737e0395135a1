"""Before any model loads: every device the config asks for is there, and every model can be had.

A config that names `device: cuda` on a machine without a usable GPU, or a model hub id that is neither in
the local cache nor downloadable (no network, HF_HUB_OFFLINE), used to fail deep inside a backend with a
long traceback, possibly after minutes of loading other models. `check` names each problem with its config
key and the fix, all at once: `ModelNotFoundError` (exit 4) when a model cannot be had, else `ConfigError`
(exit 2) when only a device is missing.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from voice_livemind.config import Config, ConfigError
from voice_livemind.models import ModelNotFoundError, resolve


@dataclass(frozen=True)
class Problem:
    key: str  # the config key to change, e.g. models.answer.device
    message: str
    kind: str  # "device" or "model"

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def _wants_cuda(device: str) -> bool:
    return device.lower().startswith("cuda")


# -- what is on this machine (each a function, so tests can replace it) ----------------------------------
def cuda_devices_ctranslate2() -> int:
    import ctranslate2

    return ctranslate2.get_cuda_device_count()


def cuda_available_torch() -> bool:
    import torch

    return torch.cuda.is_available()


def gpu_offload_llama_cpp() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def onnxruntime_has_cuda() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def hub_cache_dir() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def in_hub_cache(repo_id: str) -> bool:
    """A snapshot of the model repository is in the local Hugging Face cache."""
    snapshots = hub_cache_dir() / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return snapshots.is_dir() and any(p.is_dir() and any(p.iterdir()) for p in snapshots.iterdir())


def hub_unreachable(timeout_s: float = 3.0) -> str | None:
    """Why the model hub cannot be reached, or None when a connection to it opens."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set"
    url = urlparse(constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as err:
        return f"cannot connect to {host}:{port} ({err})"
    return None


# -- the checks ------------------------------------------------------------------------------------------
def _roles(config: Config, mode: str) -> list[tuple[str, object]]:
    """The language-model roles that `mode` needs: the notes model in livemind only (when both roles name
    the same model it is loaded once, but both keys must change together)."""
    roles = [("models.answer", config.models.answer)]
    if mode == "livemind":
        roles.insert(0, ("models.inference", config.models.inference))
    return roles


def device_problems(config: Config, mode: str) -> list[Problem]:
    problems = []
    no_gpu = "run on a machine with an NVIDIA GPU and its driver"
    if _wants_cuda(config.asr.device) and cuda_devices_ctranslate2() == 0:
        problems.append(Problem("asr.device", f"{config.asr.device!r}, but CTranslate2 sees no CUDA device; set "
                                              f"asr.device: cpu (with asr.compute_type: int8), or {no_gpu}", "device"))
    for key, role in _roles(config, mode):
        if not _wants_cuda(role.device):
            continue
        if role.engine == "transformers" and not cuda_available_torch():
            problems.append(Problem(f"{key}.device", f"{role.device!r}, but torch sees no CUDA device "
                                                     f"(torch.cuda.is_available() is false: a CPU build of torch, or no "
                                                     f"GPU); set {key}.device: cpu, or {no_gpu}", "device"))
        elif role.engine == "llama_cpp" and not gpu_offload_llama_cpp():
            problems.append(Problem(f"{key}.device", f"{role.device!r}, but this llama-cpp-python was built without "
                                                     f"GPU support; set {key}.device: cpu, or reinstall it with "
                                                     f"CMAKE_ARGS=\"-DGGML_CUDA=on\"", "device"))
    if config.tts.use_cuda and not onnxruntime_has_cuda():
        problems.append(Problem("tts.use_cuda", "true, but onnxruntime has no CUDAExecutionProvider; set "
                                                "tts.use_cuda: false, or install onnxruntime-gpu", "device"))
    end_model_device = getattr(config.vad, "end_model_device", "cpu")
    if getattr(config.vad, "end_model", "none") != "none" and _wants_cuda(end_model_device) and not onnxruntime_has_cuda():
        problems.append(Problem("vad.end_model_device", f"{end_model_device!r}, but onnxruntime has no "
                                                        "CUDAExecutionProvider; set vad.end_model_device: cpu or auto",
                                "device"))
    return problems


def model_problems(config: Config, mode: str) -> list[Problem]:
    """Model locations that cannot be had: a local path that does not exist, a hub id that is not cached
    while the hub cannot be reached. Packaged models are not fetched here (their load fetches them from
    PyPI and says so if it cannot)."""
    locations = [("asr.model", config.asr.model)]
    # engine openai: `model` is the served model's name, nothing to find here
    locations += [(f"{key}.model", role.model) for key, role in _roles(config, mode) if role.engine != "openai"]
    locations.append(("tts.voice", config.tts.voice))
    problems, unreachable = [], None
    for key, location in locations:
        if location.startswith("packaged:"):
            continue
        try:
            where = resolve(location, fetch=False)
        except ModelNotFoundError as err:
            problems.append(Problem(key, f"{err}; point {key} to an existing file or folder, or a hub id", "model"))
            continue
        if where.kind == "hub" and key == "tts.voice":
            problems.append(Problem(key, f"{location!r} does not exist; Piper needs a local .onnx voice file (or "
                                         f"packaged:en_US-joe-medium)", "model"))
            continue
        if where.kind != "hub" or in_hub_cache(where.value):
            continue
        if unreachable is None:
            unreachable = hub_unreachable() or ""
        if unreachable:
            problems.append(Problem(key, f"{location} is a model hub id that is not in the local cache "
                                         f"({hub_cache_dir()}) and the hub cannot be reached: {unreachable}. "
                                         f"Download it once where there is network (or copy that cache here), or "
                                         f"point {key} to a local copy", "model"))
    return problems


def check(config: Config, mode: str) -> None:
    """Raise before any model loads when a device or a model of this config is not there (see module doc)."""
    problems = device_problems(config, mode) + model_problems(config, mode)
    if not problems:
        return
    lines = "\n".join(f"  - {p}" for p in problems)
    if any(p.kind == "model" for p in problems):
        raise ModelNotFoundError(f"this config cannot run here, nothing was loaded:\n{lines}")
    raise ConfigError(f"this config cannot run here, nothing was loaded:\n{lines}")
