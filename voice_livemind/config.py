"""One YAML file -> one tree of typed config.

Unknown keys and wrong types are errors that name the offending key. `--set a.b=value` overrides are
parsed as YAML scalars and validated the same way.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from voice_livemind.modes import ANSWERING as ANSWERING_MODES

import yaml

# The embedded default ships inside the package (package data, so `pip install .` works from any folder); in
# the repository voice_livemind/data/default.yaml is a link to configs/default.yaml, the one copy to edit.
DEFAULT_CONFIG = Path(__file__).resolve().parent / "data" / "default.yaml"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"  # the repository's overlays (gpu.yaml): not installed


class ConfigError(ValueError):
    """The configuration is malformed; the message names the key and what was expected."""


@dataclass
class AudioConfig:
    sample_rate: int = 16000  # the pipeline's internal rate; inputs are resampled to it
    pacing: Literal["realtime", "fast"] = "fast"
    sidecar: bool = True  # read NAME.json beside the audio for the true speech start/end when present


@dataclass
class VADConfig:
    aggressiveness: int = 2  # webrtcvad 0 (least) .. 3 (most aggressive about calling audio non-speech)
    frame_ms: int = 30  # 10, 20 or 30
    speech_start_ms: int = 90  # speech this long in a row starts a turn
    hangover_ms: int = 600  # end_model none: non-speech this long in a row ends the turn
    transcript_hold_ms: int = 0  # hangover extension while the transcript sounds unfinished (0: off)
    preroll_ms: int = 300  # audio kept from before the detected start, so the first word is not clipped
    # The end of a turn: "none", silence alone (hangover_ms); "smart_turn", after min_silence_ms of silence
    # the audio model smart-turn v3.2 is asked whether the turn sounds finished: p(complete) >= end_threshold
    # ends it there, otherwise it ends after max_silence_ms of silence (a pause inside a sentence waits).
    # webrtcvad's frames decide what is silence either way. Without a loaded model: silence alone.
    end_model: Literal["none", "smart_turn"] = "smart_turn"
    min_silence_ms: int = 200
    max_silence_ms: int = 1500
    end_threshold: float = 0.5
    # > 0: a pause that did not sound finished is heard again every this many ms until max_silence_ms
    # (smart-turn often hears the end of a turn only once the pause is longer: bench turns); 0: asked once
    end_model_every_ms: int = 0
    # > 0 (with the end model): once the transcript ends in a question mark, this much silence ends the turn
    # whatever the model said (it hears prosody, and says "not finished" at most ends of synthetic speech)
    question_end_ms: int = 600
    end_model_path: str = "packaged:smart-turn-v3.2"
    end_model_threads: int = 1  # onnxruntime threads of one call (~50 ms on an idle core here)
    end_model_device: str = "cpu"  # cpu | cuda | auto (CUDA when this onnxruntime has it, else the CPU)
    # A turn the end model ended resumes when the user goes on (barge_in.min_speech_ms of speech) before
    # any of its answer was heard: the answer is dropped, the turn continues and is answered when it ends.
    resume: bool = True
    # ... and its answer is not heard before this much silence after the speech it ended, nor while speech
    # that started since is still too short to tell (0: at once). With a fast answer the first audio came
    # 0.3 s after the end model's decision, inside a synthetic voice's 0.33-0.45 s gaps between listed
    # options: the user was answered mid-question and could no longer resume.
    resume_window_ms: int = 600
    # Speech confirmation: "silero", a frame is speech only when webrtcvad says so and Silero VAD's speech
    # probability reached silero_threshold within the last 200 ms (steady noise opens and holds no turn);
    # "none": webrtcvad alone.
    confirm: Literal["none", "silero"] = "silero"
    silero_path: str = "packaged:silero-vad"
    silero_threshold: float = 0.5
    # A turn in which recognition has heard no word for this long ends (noise that passed the VAD), and a
    # turn with no words gets no answer (0: off).
    no_words_s: float = 10.0


@dataclass
class ASRConfig:
    model: str = "packaged:whisper-tiny.en"
    device: str = "cpu"  # "cpu", "cuda", "auto"
    compute_type: str = "int8"  # CTranslate2 compute type: int8, float16, int8_float16, float32 ...
    cpu_threads: int = 2  # the recognition lane; beside a note (1 thread) the two share the cores
    language: str = "en"
    beam_size: int = 1
    interval_s: float = 0.7  # re-transcribe after this much new audio
    pause_pass_ms: int = 200  # in a pause: one pass over the speech not heard yet once it lasts this long
    # that pass commits the words it heard (up to a doubtful one) without waiting for a second pass to agree:
    # the speaker has finished them, and it is the pass whose text the end of the turn takes as final
    commit_in_pauses: bool = True
    agreement_n: int = 2  # LocalAgreement-n: commit what the last n hypotheses agree on
    buffer_trim_s: float = 10.0  # trim the audio buffer at a committed sentence end once it is this long
    prompt_chars: int = 200  # committed text fed back to Whisper as its prompt
    no_speech_threshold: float = 0.6
    compression_ratio_threshold: float = 2.4
    # Guard commits against hallucinations: words of a doubtful segment are not committed before the end
    # of the turn, and a pass that echoes its prompt or doubts words is decoded again without the prompt
    # (then the committed text so far is no longer fed back). false: commit what the passes agree on.
    commit_guard: bool = True
    # Whisper's encoder reads a 30 s window however short the audio (on CPU most of a pass: 0.8 of 1.2 s
    # for 8 s of speech). The encoder reads this many seconds of it, or the audio and 2 s more if longer;
    # a pass where the short window makes Whisper loop is decoded again with the whole window. 30: the
    # whole window, as Whisper was trained. This is the window of the passes made while the user speaks,
    # whose words LocalAgreement filters (two passes must agree before a word is committed) ...
    encoder_window_s: float = 16.0
    # ... and this of a pass made in a pause or after the end of the turn, whose hypothesis may become the
    # final transcript as it is (a short window misheard short questions' last words, README).
    pause_window_s: float = 30.0


@dataclass
class LLMConfig:
    # llama_cpp: llama.cpp (llama-cpp-python) runs a .gguf file, quantised (see requantize): ~5x faster decoding than
    # transformers on CPU; the model must be a .gguf (a packaged: model, a path to a .gguf file, or a folder
    # holding one). transformers: Hugging Face transformers, for hub ids and GPUs (a GGUF is dequantised once).
    # openai: a serving engine behind an OpenAI-compatible API (vLLM, SGLang, llama.cpp's server) at base_url;
    # `model` is then the served model's name (llm.openai_backend).
    engine: Literal["llama_cpp", "transformers", "openai"] = "llama_cpp"
    model: str = "packaged:smollm2-135m-instruct"
    device: str = "cpu"  # "cpu", "cuda", "auto" (llama_cpp: cuda/auto offload every layer when its build can)
    dtype: Literal["float32", "float16", "bfloat16", "auto"] = "float32"  # transformers only (a GGUF keeps its own)
    threads: int = 2  # CPU threads of this model's calls (torch intra-op threads, llama.cpp threads)
    # llama.cpp: threads for reading the prompt (0: `threads`). Decoding beside speech synthesis is fastest
    # on one thread (two threads stall when the other core is busy), reading the prompt on every core.
    prefill_threads: int = 0
    reuse_kv_cache: bool = True  # keep the last call's key/value cache and reuse its shared prefix
    # llama_cpp only (other engines ignore it). "": run the .gguf as it is. "q8_0" / "q4_0": run a copy
    # re-quantised once by llama.cpp's own quantiser (kept in the model cache). llama.cpp has no fast batched
    # path for some quantisations: here the packaged Q4_1 read prompts at half the speed of its Q8_0 copy and
    # decoded slower too (bench llm). The weights change slightly, so near-tie tokens may differ.
    requantize: Literal["", "q8_0", "q4_0"] = "q8_0"
    # engine openai only. base_url: the API root, e.g. http://127.0.0.1:8000/v1 (required).
    base_url: str = ""
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the API key (unset: no key sent)
    # Where the served model's chat template comes from, so prompts are rendered here and sent to the raw
    # /completions endpoint (a forced reply prefix is then plain text): a model location (packaged:, a .gguf,
    # a folder or hub id with a tokenizer); "" asks the server (llama.cpp's /props) and otherwise uses
    # /chat/completions ("continue_final_message" for a prefix: vLLM, SGLang).
    chat_template: str = ""
    timeout_s: float = 60.0  # longest wait for the next streamed piece (and for a connection: min(5, this))
    retries: int = 2  # further attempts after a connection error (only those: nothing is sent twice)


@dataclass
class ModelsConfig:
    # writes notes while the user speaks, on 1 thread: recognition has the other core meanwhile
    inference: LLMConfig = field(default_factory=lambda: LLMConfig(threads=1))
    # answers once the utterance ends: the prompt on both cores (recognition is done), the tokens on one
    # (speech synthesis of the previous sentence runs on the other)
    answer: LLMConfig = field(default_factory=lambda: LLMConfig(threads=1, prefill_threads=2))


@dataclass
class PromptsConfig:
    inference_system: str = ""  # for the simplified action set (inference, wait)
    inference_system_complete: str = ""  # for the complete set (background, inference, hypothesize, wait)
    answer_system: str = ""  # the output model after the input ended, with the notes
    baseline_system: str = ""  # the same model without LiveMind: chain of thought on the complete input
    output_system: str = ""  # answer.output "paper": the authors' output prompt (answer from the notes or go on reasoning)


@dataclass
class LiveMindConfig:
    granularity: Literal["sentence", "clause", "word"] = "sentence"
    # which text segments are closed from: "stable", the committed text (never revised; a pass later), or
    # "hypothesis", the committed text plus the latest unstable words (a pass sooner; a note about words
    # that are then revised is dropped, like any note about revised text)
    segments_from: Literal["stable", "hypothesis"] = "hypothesis"
    min_segment_chars: int = 10
    # a pause of this long inside the turn ends a segment as a full stop does (Whisper drops many full stops
    # of sentences that the next one follows), and the segment before it closes at once: its note runs while
    # the speaker is silent. 0: segments end at punctuation only
    pause_break_ms: int = 300
    actions: Literal["simplified", "complete"] = "simplified"
    layout: Literal["single", "u-pli", "u-spi", "ua-pil", "multi_turn"] = "multi_turn"  # prompts.LAYOUTS
    # sequential: the paper's schedule, one inference call at a time, never cancelled; segments that close
    # during a call are handled together in the next one (a note still running when the user stops delays
    # the answer). preemptive: the same, but a note yields to the end of the turn and to a speculative
    # answer due in a pause; a yielded note resumes from its partial text if the user goes on. Recognition
    # runs on its own lane either way: notes never hold it up.
    schedule: Literal["sequential", "preemptive"] = "preemptive"
    max_note_tokens: int = 48
    # a note ends with its first `note_sentences` sentences (the prompt asks for "one short note"; SmolLM2
    # went on to the token cap, 0.5-0.9 s a note, and fell behind the segments), or once it says "action
    # wait". 0: only the cap and the line end stop it
    note_sentences: int = 1
    # OS niceness of the notes' lane (0-19): > 0 puts recognition first, the notes take the compute it leaves
    # (measured here: a pass beside a note 1.6 s at 0, 1.4 s at 10, 1.1 s at 19 (alone 1.0 s); the note 29.5,
    # 25.2, 22.9 tok/s). At 19 the notes of the unseen questions no longer finished before the end of speech
    # (coverage 0.0 vs 1.0) and first audio did not improve, so the default shares the cores equally.
    notes_nice: int = 0
    prompts: PromptsConfig = field(default_factory=PromptsConfig)


@dataclass
class AnswerConfig:
    max_new_tokens: int = 192
    repetition_penalty: float = 1.1  # the same in every mode, so modes differ only in what they are given
    stop_when_answered: bool = True  # end the answer once it states "answer is (X)" (every mode alike)
    # LiveMind's output stage answers first: for a question with lettered options its reply starts with
    # this text and a constrained option letter. "" turns it off. The baseline reasons first, as in the paper.
    choice_prefix: str = "The answer is ("
    # A spoken answer stays short: the answer-first modes (livemind, direct) stop after this many
    # sentences (0: no limit). The reasoning baseline is not cut: its reasoning is the point of it.
    max_sentences: int = 2
    # Every answering mode: in a pause that may end the turn (the last recognition pass heard all the speech
    # and the text sounds finished), start the answer at once and hold its text and audio; if the VAD
    # confirms the end with the transcript unchanged it is released, if the user goes on it is discarded.
    speculative: bool = True
    # The output stage. answer_first: the modes without reasoning (livemind, direct) answer first and short
    # (choice_prefix, max_sentences). paper: the paper's comparison, every mode answers freely with the same
    # token cap and speaks all of it; livemind answers with the authors' output prompt (prompts.output_system)
    # and falls back to chain of thought (prompts.baseline_system) when it wrote no note.
    output: Literal["answer_first", "paper"] = "answer_first"


@dataclass
class TTSConfig:
    voice: str = "packaged:en_US-joe-medium"
    use_cuda: bool = False
    length_scale: float = 1.0  # >1 speaks slower
    # Speak the first clause (up to a comma) as soon as it has this many words, before its sentence ends
    # (0: whole sentences only): the first audio comes sooner.
    first_chunk_words: int = 4
    # onnxruntime threads for synthesis (they do not spin, see onnx_session.py): 2 here, so a sentence
    # synthesised while nothing else runs gets both cores, and beside the answer's decoding costs no more
    # than 1 thread would.
    threads: int = 2
    # The answer's generation waits while its first piece is synthesised, which then has every core: the
    # first audio comes sooner (README); the rest is generated while the first piece plays.
    first_chunk_solo: bool = True


@dataclass
class BargeInConfig:
    enabled: bool = True  # the user's speech stops the answer being generated and played, and starts a new turn
    # While the assistant answers, speech must be heard this long (frames the VAD calls speech) to interrupt
    # it: a cough, a click or a short echo is ignored.
    min_speech_ms: int = 300
    # Half duplex: while the answer's audio plays, the microphone counts as silent (a speaker without echo
    # cancellation would otherwise interrupt itself). Barge-in then works only before the audio starts.
    suppress_while_playing: bool = False


@dataclass
class ConversationConfig:
    max_turns: int = 4  # earlier exchanges (user + assistant) given to the answer model; 0: each turn alone
    max_chars: int = 2000  # and at most this many characters of them: the oldest go first


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"  # loopback: other machines cannot connect unless this is changed
    port: int = 8765
    max_sessions: int = 2  # concurrent clients sharing the loaded models; more are refused (close code 1013)


@dataclass
class Config:
    mode: Literal[ANSWERING_MODES] = "livemind"  # voice_livemind.modes
    audio: AudioConfig = field(default_factory=AudioConfig)
    vad: VADConfig = field(default_factory=VADConfig)
    asr: ASRConfig = field(default_factory=ASRConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    livemind: LiveMindConfig = field(default_factory=LiveMindConfig)
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    tts: TTSConfig = field(default_factory=TTSConfig)
    barge_in: BargeInConfig = field(default_factory=BargeInConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    server: ServerConfig = field(default_factory=ServerConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_value(path: str, value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, path)
    if origin is Literal:
        allowed = typing.get_args(annotation)
        if value not in allowed:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _check_value(path, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: {value!r} does not match {annotation}")
    if annotation is type(None):
        if value is not None:
            raise ConfigError(f"{path}: expected null, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):  # YAML's .nan and .inf: every comparison with NaN is false
            raise ConfigError(f"{path}: expected a finite number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if annotation in (str, bool):
        if not isinstance(value, annotation):
            raise ConfigError(f"{path}: expected {annotation.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported annotation {annotation}")  # a bug in this module, not the YAML


def _build(cls, data: Any, path: str = ""):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(f"unknown key {where}{unknown[0]} (known keys here: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _check_value(f"{path}.{name}" if path else name, value, hints[name])
    return cls(**kwargs)


def _apply_override(data: dict, assignment: str) -> None:
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {assignment!r}: expected key=value, e.g. vad.hangover_ms=500")
    parts = key.strip().split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: {part} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {assignment!r}: value is not valid YAML ({err})") from err


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key written twice in one mapping: YAML keeps the last silently, so a
    setting repeated further down would change where nobody looks."""


def _unique_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                    key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror or err}") from err
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    return data


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Load the default config (`DEFAULT_CONFIG`, the repository's configs/default.yaml), then the given
    file on top of it, then the `--set` overrides.

    The default file carries the prompts and model choices, so a small user file only names what it
    changes.
    """
    data = read_yaml(DEFAULT_CONFIG)
    if path is not None:
        data = _deep_merge(data, read_yaml(Path(path)))
    for assignment in overrides:
        _apply_override(data, assignment)
    config = _build(Config, data)
    if config.vad.frame_ms not in (10, 20, 30):
        raise ConfigError(f"vad.frame_ms: webrtcvad accepts 10, 20 or 30, got {config.vad.frame_ms}")
    _check_vad(config.vad)
    _check_limits(config)
    if config.audio.sample_rate != 16000:
        raise ConfigError("audio.sample_rate: the pipeline runs at 16000 Hz (Whisper and webrtcvad); inputs are resampled")
    for role in ("inference", "answer"):
        _check_llm(f"models.{role}", getattr(config.models, role))
    return config


def at_least(low: float) -> tuple[str, Callable[[float], bool]]:
    return f"at least {low}", lambda value: value >= low


def above(low: float) -> tuple[str, Callable[[float], bool]]:
    return f"more than {low}", lambda value: value > low


def between(low: float, high: float) -> tuple[str, Callable[[float], bool]]:
    return f"{low}..{high}", lambda value: low <= value <= high


# Values a number may take.
LIMITS = {
    "vad.aggressiveness": between(0, 3),
    "vad.end_model_threads": at_least(1),
    "vad.speech_start_ms": at_least(0),
    "vad.hangover_ms": at_least(0),
    "vad.transcript_hold_ms": at_least(0),
    "vad.preroll_ms": at_least(0),
    "vad.end_threshold": between(0, 1),  # probabilities
    "vad.silero_threshold": between(0, 1),
    "vad.end_model_every_ms": at_least(0),  # 0: asked once per pause
    "vad.question_end_ms": at_least(0),  # 0: off
    "vad.no_words_s": at_least(0),  # 0: off
    "vad.resume_window_ms": at_least(0),  # 0: off
    "asr.cpu_threads": at_least(0),  # 0: CTranslate2 picks
    "asr.beam_size": at_least(1),
    "asr.agreement_n": at_least(1),
    "asr.encoder_window_s": between(1, 30),  # seconds of Whisper's 30 s window
    "asr.pause_window_s": between(1, 30),
    "asr.interval_s": above(0),  # 0 would re-transcribe on every frame
    "asr.pause_pass_ms": at_least(0),
    "asr.buffer_trim_s": between(1, 15),  # a buffer can grow to twice this: it must fit Whisper's 30 s window
    "asr.prompt_chars": at_least(0),
    "asr.no_speech_threshold": between(0, 1),
    "asr.compression_ratio_threshold": above(0),
    "livemind.min_segment_chars": at_least(0),
    "livemind.pause_break_ms": at_least(0),
    "livemind.max_note_tokens": at_least(1),
    "livemind.note_sentences": at_least(0),
    "livemind.notes_nice": between(0, 19),
    "answer.max_new_tokens": at_least(1),
    "answer.repetition_penalty": above(0),
    "answer.max_sentences": at_least(0),
    "tts.length_scale": above(0),
    "tts.first_chunk_words": at_least(0),
    "tts.threads": at_least(1),
    "barge_in.min_speech_ms": at_least(0),
    "conversation.max_turns": at_least(0),
    "conversation.max_chars": at_least(0),
    "server.port": between(0, 65535),  # 0: any free port
    "server.max_sessions": at_least(1),
    **{f"models.{role}.{key}": limit for role in ("inference", "answer") for key, limit in (
        ("threads", at_least(1)), ("prefill_threads", at_least(0)),  # 0: the same as threads
        ("timeout_s", above(0)), ("retries", at_least(0)))},
}


def _check_limits(config: Config) -> None:
    for key, (allowed, ok) in LIMITS.items():
        value = config
        for name in key.split("."):
            value = getattr(value, name)
        if not ok(value):
            raise ConfigError(f"{key}: must be {allowed}, got {value}")


def _check_vad(vad: VADConfig) -> None:
    if not 0 < vad.min_silence_ms <= vad.max_silence_ms:
        raise ConfigError(f"vad.min_silence_ms ({vad.min_silence_ms}) must be > 0 and at most vad.max_silence_ms "
                          f"({vad.max_silence_ms})")
    if vad.end_model_device not in ("cpu", "cuda", "auto"):
        raise ConfigError(f"vad.end_model_device: cpu, cuda or auto, got {vad.end_model_device!r}")


def _check_llm(path: str, llm: LLMConfig) -> None:
    if llm.engine == "openai":
        if not llm.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}.base_url: engine openai needs the server's URL (http://host:port/v1), got "
                              f"{llm.base_url!r}")
    elif llm.base_url:
        raise ConfigError(f"{path}.base_url: only engine openai reads it (engine is {llm.engine}); set "
                          f"{path}.engine: openai or remove base_url")
    if llm.engine == "llama_cpp":
        problem = gguf_location_problem(llm.model)
        if problem:
            raise ConfigError(f"{path}.model: engine llama_cpp reads a .gguf file, but {problem}; point "
                              f"{path}.model to a .gguf file or set {path}.engine: transformers")


def gguf_location_problem(location: str) -> str | None:
    """Why a model location cannot be a .gguf file for llama.cpp, or None. Decided without loading anything:
    a packaged model that is a .gguf, a path ending in .gguf, or an existing folder (it must hold one)."""
    from voice_livemind.models import PACKAGED

    if location.startswith("packaged:"):
        name = location.split(":", 1)[1]
        if name not in PACKAGED:
            return None  # unknown packaged names are reported, with the known ones, when the model loads
        if not PACKAGED[name].relpath.endswith(".gguf"):
            return f"packaged model {name!r} is not a .gguf"
        return None
    path = Path(location).expanduser()
    if location.endswith(".gguf") or path.is_dir():
        return None
    if path.exists():
        return f"{location!r} is not a .gguf file"
    looks_like_path = location.startswith((".", "/", "~")) or location.count("/") != 1
    if looks_like_path:
        return f"{location!r} is not a .gguf path"
    return f"{location!r} is a model hub id"
