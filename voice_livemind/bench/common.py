"""What the benchmarks share: the audio fixtures, the MMLU-Pro questions, the chat models, and fresh
pipeline backends for one run. Each benchmark imports these from here, never from another benchmark.

Light to import: models, the pipeline and the VAD are imported only inside the functions that need them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

FIXTURES = Path("audio_fixtures")  # the default inputs of bench asr / voice: in the current directory


def fixtures_folder(folder: str | Path | None, command: str) -> Path:
    """`folder`, or audio_fixtures/ in the current directory when none is given (the repository's root; an
    installed package has no fixtures): AudioError naming the folder to pass when it is not there."""
    if folder is not None:
        return Path(folder)
    if not FIXTURES.is_dir():
        from voice_livemind.audio.source import AudioError

        raise AudioError(f"{command}: no folder given and no {FIXTURES}/ in the current directory ({Path.cwd()}); "
                         f"run it from the voice_livemind repository, or pass the folder of audio files: "
                         f"voice-livemind {command} FOLDER")
    return FIXTURES
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
LETTERS = "ABCDEFGHIJ"


# -- MMLU-Pro questions (bench text reads them as text, bench voice hears them spoken) -----------------
@dataclass(frozen=True)
class Question:
    qid: str
    question: str
    options: tuple[str, ...]
    answer: str
    category: str

    @property
    def options_text(self) -> str:
        return "\n".join(f"{LETTERS[i]}. {option}" for i, option in enumerate(self.options))

    @property
    def words(self) -> int:
        return len(self.question.split())


def load_questions(path: str | Path | None) -> list[Question]:
    """MMLU-Pro style records: question, options (up to 10), answer (letter), category, question_id."""
    if path is None:
        text = resources.files("voice_livemind.data").joinpath("mmlu_pro_validation.json").read_text()
        source = "the shipped MMLU-Pro validation split"
    else:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise ValueError(f"cannot read {path}: {err.strerror or err}") from err
        source = str(path)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{source} is not valid JSON: {err}") from err
    if not isinstance(records, list) or not records:
        raise ValueError(f"{source}: expected a non-empty JSON list of questions")
    questions = []
    for index, record in enumerate(records):
        missing = {"question", "options", "answer"} - set(record) if isinstance(record, dict) else {"everything"}
        if missing:
            raise ValueError(f"{source}: record {index} lacks {', '.join(sorted(missing))}")
        options = tuple(str(o) for o in record["options"])
        if not 2 <= len(options) <= 10 or record["answer"] not in LETTERS[: len(options)]:
            raise ValueError(f"{source}: record {index} needs 2-10 options and an answer letter among them")
        questions.append(Question(str(record.get("question_id", index)), record["question"].strip(), options,
                                  record["answer"], record.get("category", "unknown")))
    return questions


# -- models and backends -----------------------------------------------------------------------------
def load_models(config, small: bool):
    """(large, small): models.inference and, when `small` is asked for and names another model than the
    large one, models.answer; otherwise the large model object serves both roles. Each is loaded on its
    config's `engine` (llm.load_chat_model)."""
    from voice_livemind.llm import load_chat_model
    from voice_livemind.pipeline.backends import same_model

    large = load_chat_model(config.models.inference)
    if not small or same_model(config.models.answer, config.models.inference):  # threads may differ
        return large, large
    return large, load_chat_model(config.models.answer)


def fresh_backends(config, asr, inference_model=None, answer_model=None, tts=None):
    """Backends for one pipeline run: the shared, loaded models (cold: no key/value cache left from another
    run), a new VAD classifier (it keeps state) and the end-of-turn model, as the config asks."""
    from voice_livemind.pipeline import Backends
    from voice_livemind.vad.detectors import load_end_of_turn, speech_classifier

    for model in {id(m): m for m in (inference_model, answer_model) if m is not None}.values():
        model.forget()
    return Backends(is_speech=speech_classifier(config.vad), asr=asr, inference_model=inference_model,
                    answer_model=answer_model, tts=tts, end_of_turn=load_end_of_turn(config.vad))
