"""voice_livemind.config: defaults, layering, --set overrides, and errors that name the offending key."""

from pathlib import Path

import pytest

from voice_livemind.config import CONFIG_DIR, Config, ConfigError, load_config


def write(tmp_path: Path, text: str, name: str = "user.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(*args, **kwargs)
    return str(info.value)


# --- defaults ----------------------------------------------------------------------------------------


def test_default_yaml_gives_the_defaults():
    config = load_config()
    assert config.mode == "livemind"
    assert config.audio.sample_rate == 16000
    assert config.audio.pacing == "fast"
    assert config.audio.sidecar is True
    assert (config.vad.aggressiveness, config.vad.frame_ms) == (2, 30)
    assert (config.vad.speech_start_ms, config.vad.hangover_ms, config.vad.preroll_ms) == (90, 600, 300)
    assert config.asr.model == "packaged:whisper-tiny.en"
    assert (config.asr.device, config.asr.compute_type, config.asr.cpu_threads) == ("cpu", "int8", 2)
    assert config.asr.interval_s == 0.7 and isinstance(config.asr.interval_s, float)
    assert config.asr.agreement_n == 2
    assert config.asr.buffer_trim_s == 10.0
    for llm in (config.models.inference, config.models.answer):
        assert (llm.engine, llm.model, llm.device, llm.dtype) == ("llama_cpp", "packaged:smollm2-135m-instruct", "cpu", "float32")
    # the notes share the two cores with recognition while the user speaks; the answer reads its prompt
    # on both, and decodes on one beside speech synthesis
    assert (config.models.inference.threads, config.models.inference.prefill_threads) == (1, 0)
    assert (config.models.answer.threads, config.models.answer.prefill_threads) == (1, 2)
    assert config.livemind.granularity == "sentence"
    assert config.livemind.min_segment_chars == 10
    assert config.livemind.actions == "simplified"
    assert config.livemind.max_note_tokens == 48
    assert config.answer.max_new_tokens == 192
    assert config.answer.repetition_penalty == 1.1
    assert config.tts.voice == "packaged:en_US-joe-medium"
    assert config.tts.use_cuda is False


def test_default_yaml_carries_the_prompts():
    prompts = load_config().livemind.prompts
    assert prompts.inference_system.startswith("You listen to a user who is still speaking.")
    assert '"action inference. <note>"' in prompts.inference_system
    assert "action wait." in prompts.inference_system
    for action in ("background", "inference", "hypothesize", "wait"):
        assert f'"action {action}.' in prompts.inference_system_complete
    assert prompts.answer_system.startswith("You are a voice assistant. The user has finished speaking;")
    assert prompts.baseline_system.startswith("You are a voice assistant. Think step by step")
    # `|-` block scalars: no trailing newline.
    assert not prompts.inference_system.endswith("\n")


def test_default_yaml_matches_the_dataclass_defaults_except_prompts():
    loaded = load_config().to_dict()
    built = Config().to_dict()
    loaded["livemind"].pop("prompts")
    built["livemind"].pop("prompts")
    assert loaded == built


# --- layering ----------------------------------------------------------------------------------------


def test_user_file_changes_only_what_it_names(tmp_path):
    path = write(tmp_path, "vad:\n  hangover_ms: 450\nmodels:\n  answer:\n    threads: 4\n")
    config = load_config(path)
    expected = load_config().to_dict()
    expected["vad"]["hangover_ms"] = 450
    expected["models"]["answer"]["threads"] = 4
    assert config.to_dict() == expected
    # the sibling model and the rest of the vad section are untouched
    assert config.models.inference.threads == 1
    assert config.vad.speech_start_ms == 90


def test_empty_user_file_gives_the_defaults(tmp_path):
    assert load_config(write(tmp_path, "")).to_dict() == load_config().to_dict()


def test_user_file_top_level_must_be_a_mapping(tmp_path):
    message = error_of(write(tmp_path, "- a\n- b\n"))
    assert "top level must be a mapping" in message


# --- unknown keys ------------------------------------------------------------------------------------


def test_unknown_nested_key_names_the_dotted_key(tmp_path):
    message = error_of(write(tmp_path, "vad:\n  hangover: 500\n"))
    assert message.startswith("unknown key vad.hangover ")
    assert "hangover_ms" in message  # the known keys are listed


def test_unknown_asr_key(tmp_path):
    assert error_of(write(tmp_path, "asr:\n  nonsense: 1\n")).startswith("unknown key asr.nonsense ")


def test_unknown_deeply_nested_key(tmp_path):
    message = error_of(write(tmp_path, "models:\n  inference:\n    temperature: 0.5\n"))
    assert message.startswith("unknown key models.inference.temperature ")


def test_unknown_top_level_key(tmp_path):
    message = error_of(write(tmp_path, "speed: 2\n"))
    assert message.startswith("unknown key speed ")
    assert "vad" in message and "asr" in message


# --- types -------------------------------------------------------------------------------------------


def test_string_for_int_names_the_key(tmp_path):
    message = error_of(write(tmp_path, 'vad:\n  hangover_ms: "long"\n'))
    assert message == "vad.hangover_ms: expected an integer, got str 'long'"


def test_bool_for_float_is_rejected(tmp_path):
    message = error_of(write(tmp_path, "asr:\n  interval_s: true\n"))
    assert message == "asr.interval_s: expected a number, got bool True"


def test_bool_for_int_is_rejected(tmp_path):
    message = error_of(write(tmp_path, "vad:\n  hangover_ms: yes\n"))  # YAML 1.1: yes -> True
    assert message == "vad.hangover_ms: expected an integer, got bool True"


def test_float_for_int_is_rejected(tmp_path):
    assert error_of(write(tmp_path, "vad:\n  preroll_ms: 300.5\n")).startswith("vad.preroll_ms: expected an integer")


def test_int_for_str_is_rejected(tmp_path):
    assert error_of(write(tmp_path, "asr:\n  device: 0\n")) == "asr.device: expected str, got int 0"


def test_string_where_a_section_is_expected(tmp_path):
    message = error_of(write(tmp_path, "vad: loud\n"))
    assert message == "vad: expected a mapping, got str 'loud'"


def test_string_where_a_nested_section_is_expected(tmp_path):
    message = error_of(write(tmp_path, "models:\n  answer: small\n"))
    assert message == "models.answer: expected a mapping, got str 'small'"


def test_int_accepted_for_float_fields_and_stored_as_float(tmp_path):
    config = load_config(write(tmp_path, "asr:\n  interval_s: 2\ntts:\n  length_scale: 1\n"))
    assert config.asr.interval_s == 2.0 and type(config.asr.interval_s) is float
    assert config.tts.length_scale == 1.0 and type(config.tts.length_scale) is float


def test_literal_values_are_checked(tmp_path):
    message = error_of(write(tmp_path, "audio:\n  pacing: slow\n"))
    assert message == "audio.pacing: 'slow' is not one of 'realtime', 'fast'"


def test_literal_values_accepted(tmp_path):
    path = write(tmp_path, "mode: baseline\naudio:\n  pacing: realtime\nlivemind:\n  granularity: clause\n  actions: complete\n")
    config = load_config(path)
    assert (config.mode, config.audio.pacing) == ("baseline", "realtime")
    assert (config.livemind.granularity, config.livemind.actions) == ("clause", "complete")


def test_literal_dtype_checked(tmp_path):
    message = error_of(write(tmp_path, "models:\n  inference:\n    dtype: fp8\n"))
    assert message.startswith("models.inference.dtype: 'fp8' is not one of")


# --- --set overrides ---------------------------------------------------------------------------------


def test_set_override_dotted_path_yaml_value():
    config = load_config(overrides=["vad.hangover_ms=450", "asr.interval_s=0.25", "tts.use_cuda=true", "mode=baseline"])
    assert config.vad.hangover_ms == 450
    assert config.asr.interval_s == 0.25
    assert config.tts.use_cuda is True
    assert config.mode == "baseline"
    assert config.vad.speech_start_ms == 90  # siblings untouched


def test_set_override_string_value_with_slash_and_equals():
    # a hub id: transformers loads it (llama_cpp, the default engine, reads .gguf files only)
    config = load_config(overrides=["models.answer.engine=transformers", "models.answer.model=org/name=v2"])
    assert config.models.answer.model == "org/name=v2"
    assert config.models.inference.model == "packaged:smollm2-135m-instruct"


def test_set_override_applies_after_the_user_file(tmp_path):
    path = write(tmp_path, "vad:\n  hangover_ms: 450\n  preroll_ms: 200\n")
    config = load_config(path, overrides=["vad.hangover_ms=700"])
    assert (config.vad.hangover_ms, config.vad.preroll_ms) == (700, 200)


def test_set_override_is_type_checked():
    assert error_of(overrides=["vad.hangover_ms=long"]) == "vad.hangover_ms: expected an integer, got str 'long'"


def test_set_without_equals_is_malformed():
    message = error_of(overrides=["novalue"])
    assert message.startswith("--set 'novalue': expected key=value")


def test_set_with_empty_key_is_malformed():
    assert error_of(overrides=["=3"]).startswith("--set '=3': expected key=value")


def test_set_unknown_key_fails():
    assert error_of(overrides=["vad.hangover=500"]).startswith("unknown key vad.hangover ")
    assert error_of(overrides=["nosuch.key=1"]).startswith("unknown key nosuch ")


def test_set_through_a_scalar_is_an_error():
    message = error_of(overrides=["mode.x=1"])
    assert message == "--set 'mode.x=1': mode is not a section"


def test_set_invalid_yaml_value():
    assert error_of(overrides=["asr.device=[cpu"]).startswith("--set 'asr.device=[cpu': value is not valid YAML")


# --- files -------------------------------------------------------------------------------------------


def test_malformed_yaml_file(tmp_path):
    path = write(tmp_path, "vad:\n  hangover_ms: [1, 2\n")
    message = error_of(path)
    assert message.startswith(f"{path} is not valid YAML")


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    message = error_of(path)
    assert message.startswith(f"cannot read config file {path}")


# --- semantic checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_frame_ms_accepted(frame_ms):
    assert load_config(overrides=[f"vad.frame_ms={frame_ms}"]).vad.frame_ms == frame_ms


@pytest.mark.parametrize("frame_ms", [0, 15, 25, 40])
def test_frame_ms_rejected(frame_ms):
    assert error_of(overrides=[f"vad.frame_ms={frame_ms}"]) == f"vad.frame_ms: webrtcvad accepts 10, 20 or 30, got {frame_ms}"


def test_aggressiveness_range_and_agreement_n_and_sample_rate():
    assert error_of(overrides=["vad.aggressiveness=4"]).startswith("vad.aggressiveness: must be 0..3")
    assert error_of(overrides=["vad.aggressiveness=-1"]).startswith("vad.aggressiveness: must be 0..3")
    assert error_of(overrides=["asr.agreement_n=0"]).startswith("asr.agreement_n: must be at least 1")
    assert error_of(overrides=["audio.sample_rate=8000"]).startswith("audio.sample_rate:")
    assert error_of(overrides=["asr.encoder_window_s=0.5"]).startswith("asr.encoder_window_s: must be 1..30")
    assert error_of(overrides=["asr.encoder_window_s=31"]).startswith("asr.encoder_window_s: must be 1..30")


# --- the GPU config ----------------------------------------------------------------------------------


def test_gpu_yaml_validates_and_names_gpu_models():
    config = load_config(CONFIG_DIR / "gpu.yaml")
    assert config.asr.device == "cuda"
    assert config.asr.compute_type == "float16"
    assert config.models.inference.device == "cuda"
    assert config.models.answer.device == "cuda"
    for model in (config.asr.model, config.models.inference.model, config.models.answer.model):
        assert "/" in model and not model.startswith("packaged:")
    assert config.models.inference.model != config.models.answer.model
    # what gpu.yaml does not name comes from default.yaml
    assert config.vad.hangover_ms == 600
    assert config.livemind.prompts.answer_system == load_config().livemind.prompts.answer_system


# --- the chat-model engine ---------------------------------------------------------------------------


def test_engine_is_checked():
    message = error_of(overrides=["models.answer.engine=vllm"])
    assert message == "models.answer.engine: 'vllm' is not one of 'llama_cpp', 'transformers', 'openai'"


def test_engine_per_model():
    config = load_config(overrides=["models.inference.engine=llama_cpp", "models.answer.engine=transformers"])
    assert (config.models.inference.engine, config.models.answer.engine) == ("llama_cpp", "transformers")


def test_llama_cpp_with_a_hub_id_is_a_config_error_that_says_the_fix():
    message = error_of(overrides=["models.answer.engine=llama_cpp", "models.answer.model=Qwen/Qwen2.5-1.5B-Instruct"])
    assert message.startswith("models.answer.model: engine llama_cpp reads a .gguf file, but 'Qwen/Qwen2.5-1.5B-Instruct' "
                              "is a model hub id")
    assert "models.answer.engine: transformers" in message
    # the same hub id is fine with transformers
    assert load_config(overrides=["models.answer.engine=transformers",
                                  "models.answer.model=Qwen/Qwen2.5-1.5B-Instruct"]).models.answer.model.startswith("Qwen/")


def test_llama_cpp_needs_a_gguf(tmp_path):
    message = error_of(overrides=["models.inference.engine=llama_cpp", "models.inference.model=packaged:whisper-tiny.en"])
    assert "packaged model 'whisper-tiny.en' is not a .gguf" in message
    other = write(tmp_path, "not a model", name="weights.bin")
    assert "is not a .gguf file" in error_of(overrides=["models.inference.engine=llama_cpp",
                                                         f"models.inference.model={other}"])
    assert "is not a .gguf path" in error_of(overrides=["models.inference.engine=llama_cpp",
                                                         "models.inference.model=./nowhere/model"])


def test_llama_cpp_accepts_a_packaged_gguf_a_gguf_path_or_a_folder(tmp_path):
    for model in ("packaged:smollm2-135m-instruct", str(tmp_path / "model.gguf"), "~/models/x.gguf", str(tmp_path)):
        config = load_config(overrides=["models.inference.engine=llama_cpp", f"models.inference.model={model}"])
        assert config.models.inference.model == model  # a missing file is reported when the model loads


def test_threads_must_be_positive():
    assert error_of(overrides=["models.answer.threads=0"]) == "models.answer.threads: must be at least 1, got 0"


def test_gpu_yaml_runs_its_hub_models_on_transformers():
    config = load_config(CONFIG_DIR / "gpu.yaml")
    assert (config.models.inference.engine, config.models.answer.engine) == ("transformers", "transformers")


def test_a_key_written_twice_is_an_error_not_the_last_one_silently(tmp_path):
    # the default config itself had "question_end_ms" twice for a while: YAML took the second one
    path = write(tmp_path, "vad:\n  hangover_ms: 500\n  frame_ms: 30\n  hangover_ms: 900\n")
    with pytest.raises(ConfigError, match="hangover_ms' is given twice"):
        load_config(path)
    twice_a_section = write(tmp_path, "vad:\n  hangover_ms: 500\nvad:\n  frame_ms: 20\n", "sections.yaml")
    with pytest.raises(ConfigError, match="'vad' is given twice"):
        load_config(twice_a_section)
    assert load_config(write(tmp_path, "vad:\n  hangover_ms: 500\nasr:\n  interval_s: 0.5\n", "ok.yaml"))
