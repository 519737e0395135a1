"""A device that is not there, or a model that cannot be had, is named with its config key before anything
loads: ConfigError (exit 2) for a device alone, ModelNotFoundError (exit 4) when a model is missing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from voice_livemind import cli, preflight
from voice_livemind.config import ConfigError, load_config
from voice_livemind.models import ModelNotFoundError

ROOT = Path(__file__).resolve().parents[1]
GPU_YAML = ROOT / "configs" / "gpu.yaml"
FIXTURE = ROOT / "audio_fixtures" / "short_question.wav"
CUDA_ROLES = ["asr.device=cuda", "models.answer.engine=transformers", "models.answer.device=cuda",
              "models.inference.engine=transformers", "models.inference.device=cuda", "tts.use_cuda=true"]


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(preflight, "cuda_devices_ctranslate2", lambda: 0)
    monkeypatch.setattr(preflight, "cuda_available_torch", lambda: False)
    monkeypatch.setattr(preflight, "gpu_offload_llama_cpp", lambda: False)
    monkeypatch.setattr(preflight, "onnxruntime_has_cuda", lambda: False)


@pytest.fixture
def a_gpu(monkeypatch):
    monkeypatch.setattr(preflight, "cuda_devices_ctranslate2", lambda: 1)
    monkeypatch.setattr(preflight, "cuda_available_torch", lambda: True)
    monkeypatch.setattr(preflight, "gpu_offload_llama_cpp", lambda: True)
    monkeypatch.setattr(preflight, "onnxruntime_has_cuda", lambda: True)


@pytest.fixture
def offline_hub(monkeypatch, tmp_path):
    monkeypatch.setattr(preflight, "hub_cache_dir", lambda: tmp_path / "hub")
    monkeypatch.setattr(preflight, "hub_unreachable", lambda: "HF_HUB_OFFLINE is set")


def test_cuda_without_a_gpu_names_every_key_and_the_fix(no_gpu):
    config = load_config(overrides=CUDA_ROLES)
    with pytest.raises(ConfigError) as err:
        preflight.check(config, "livemind")
    message = str(err.value)
    for key in ("asr.device", "models.answer.device", "models.inference.device", "tts.use_cuda"):
        assert f"  - {key}: " in message, key
    assert "asr.device: cpu" in message and "torch.cuda.is_available() is false" in message
    assert "onnxruntime-gpu" in message
    # the notes model is loaded only in livemind mode: direct does not need its device
    with pytest.raises(ConfigError) as err:
        preflight.check(config, "direct")
    assert "models.inference.device" not in str(err.value) and "models.answer.device" in str(err.value)


def test_cuda_with_a_gpu_and_cpu_configs_pass(no_gpu, monkeypatch):
    preflight.check(load_config(), "livemind")  # the default config asks for no GPU
    for name, value in (("cuda_devices_ctranslate2", 1), ("cuda_available_torch", True),
                        ("gpu_offload_llama_cpp", True), ("onnxruntime_has_cuda", True)):
        monkeypatch.setattr(preflight, name, lambda value=value: value)
    preflight.check(load_config(overrides=CUDA_ROLES), "livemind")


def test_llama_cpp_on_cuda_needs_a_gpu_build(no_gpu):
    with pytest.raises(ConfigError, match=r"models.answer.device: 'cuda', but this llama-cpp-python was built without GPU"):
        preflight.check(load_config(overrides=["models.answer.device=cuda"]), "direct")


def test_a_hub_id_neither_cached_nor_reachable_is_model_not_found_naming_model_and_key(a_gpu, offline_hub):
    config = load_config(overrides=["models.answer.engine=transformers", "models.answer.model=Org/Some-Model"])
    with pytest.raises(ModelNotFoundError) as err:
        preflight.check(config, "direct")
    message = str(err.value)
    assert "models.answer.model: Org/Some-Model is a model hub id that is not in the local cache" in message
    assert "HF_HUB_OFFLINE is set" in message and "nothing was loaded" in message


def test_a_cached_or_reachable_hub_id_passes(a_gpu, offline_hub, monkeypatch):
    config = load_config(overrides=["models.answer.engine=transformers", "models.answer.model=Org/Some-Model"])
    snapshot = preflight.hub_cache_dir() / "models--Org--Some-Model" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    preflight.check(config, "direct")  # in the cache: no network needed
    (snapshot / "config.json").unlink()
    snapshot.rmdir()
    with pytest.raises(ModelNotFoundError):  # an empty snapshot folder is not a model
        preflight.check(config, "direct")
    monkeypatch.setattr(preflight, "hub_unreachable", lambda: None)
    preflight.check(config, "direct")  # not cached, but the hub answers: the backend downloads it


def test_a_missing_local_model_path_is_named_with_its_key(a_gpu):
    config = load_config(overrides=["asr.model=/nonexistent/whisper"])
    with pytest.raises(ModelNotFoundError, match=r"asr.model: model path '/nonexistent/whisper' does not exist"):
        preflight.check(config, "direct")


def test_hub_unreachable_reads_hf_hub_offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert preflight.hub_unreachable() == "HF_HUB_OFFLINE is set"
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    assert preflight.hub_unreachable(timeout_s=1.0).startswith("cannot connect to 127.0.0.1:9")


def test_replay_on_gpu_yaml_without_gpu_or_hub_exits_4_before_loading_anything(no_gpu, offline_hub, monkeypatch,
                                                                              capsys, tmp_path):
    import voice_livemind.asr.whisper_backend as whisper
    import voice_livemind.llm as llm

    monkeypatch.setattr(whisper, "FasterWhisperBackend", lambda *a: pytest.fail("a model was loaded"))
    monkeypatch.setattr(llm, "load_chat_model", lambda *a: pytest.fail("a model was loaded"))
    code = cli.main(["replay", str(FIXTURE), "--out", str(tmp_path / "out"), "--config", str(GPU_YAML), "--quiet"])
    assert code == cli.EXIT_MODEL == 4
    err = capsys.readouterr().err
    assert "model error: this config cannot run here" in err
    for key in ("asr.device", "models.answer.device", "asr.model", "models.inference.model", "models.answer.model"):
        assert f"  - {key}: " in err, key


@pytest.mark.integration
def test_the_real_cli_on_gpu_yaml_here_exits_4_with_a_message_and_no_traceback(tmp_path):
    if preflight.cuda_available_torch() or preflight.in_hub_cache("Qwen/Qwen2.5-1.5B-Instruct"):
        pytest.skip("this machine has a GPU or the gpu.yaml models")
    env = dict(os.environ, HF_HUB_OFFLINE="1")  # the hub is out of reach for sure (and fast to tell)
    run = subprocess.run([sys.executable, "-m", "voice_livemind.cli", "replay", str(FIXTURE), "--out",
                          str(tmp_path / "out"), "--config", str(GPU_YAML), "--quiet"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 4, run.stderr
    assert "Traceback" not in run.stderr
    assert "models.answer.model: Qwen/Qwen2.5-1.5B-Instruct is a model hub id" in run.stderr
    assert "models.answer.device: 'cuda'" in run.stderr
