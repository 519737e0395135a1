"""One place that opens an ONNX model with onnxruntime: threads, and the CPU or CUDA provider."""

from __future__ import annotations

from voice_livemind.models import ModelNotFoundError, resolve


def model_path(location: str) -> str:
    """A config model location (`packaged:NAME` or a local path) as a local file; hub ids are refused."""
    resolved = resolve(location)
    if resolved.kind != "path":
        raise ModelNotFoundError(f"{location!r}: an ONNX model must be a local file or a packaged: model")
    return resolved.value


def providers(device: str) -> list[str]:
    """`cpu`: the CPU provider; `cuda` / `auto`: CUDA first when this onnxruntime build has it (the CPU
    provider stays as the fallback, so a machine without CUDA runs the same config on its CPU)."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    chosen = ["CPUExecutionProvider"]
    if device in ("cuda", "auto") and "CUDAExecutionProvider" in available:
        chosen.insert(0, "CUDAExecutionProvider")
    return chosen


def open_session(location: str, threads: int = 1, device: str = "cpu"):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # onnxruntime's threads spin between operators by default: beside the other lanes on a small CPU that
    # steals the core they run on. Measured with Piper on 2 cores, the other core decoding: 0.62 s for a
    # clause spinning on 2 threads, 0.42 s on 1, 0.41-0.43 s on 2 without spinning (0.26-0.27 s alone).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = max(1, threads)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_path(location), sess_options=options, providers=providers(device))
