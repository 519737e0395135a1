"""metrics.turn_latency on hand-built event lists: latencies and note coverage at the end of speech."""

import pytest

from voice_livemind import events as ev
from voice_livemind.metrics import final_transcripts, note_coverage, turn_latency

A, B, C, D, E = "What is the capital of France?", "I mean the city.", "Not the region.", "Thanks.", "Also Spain?"


def closed(t, *segments, turn=1):
    return ev.SegmentsClosed(t, turn, tuple(segments))


def note(t, *segments, turn=1):
    return ev.Note(t, turn, "inference", "a note", tuple(segments))


def turn_events(middle, vad_end=6.0, decided=6.6):
    """SpeechStarted, the given events, SpeechEnded (VAD estimate `vad_end`, decided at `decided`), an answer."""
    return [ev.SpeechStarted(0.5, 1, 0.5), *middle, ev.SpeechEnded(decided, 1, vad_end),
            ev.TranscriptUpdate(decided, 1, "text", "", final=True), ev.AnswerDelta(decided + 0.2, 1, "The"),
            ev.AnswerDone(decided + 0.5, 1, "The answer.", 3), ev.TurnDone(decided + 0.6, 1)]


def test_notes_cover_segments_closed_before_the_end_of_speech():
    events = turn_events([closed(1.0, A), note(1.5, A), closed(2.0, A, B), closed(2.5, A, B, C),
                          note(3.0, B, C), closed(4.0, A, B, C, D), closed(5.0, A, B, C, D, E)])
    latency = turn_latency(events, 1)
    assert (latency["segments_closed"], latency["segments_noted"]) == (5, 3)
    assert latency["speech_end_source"] == "vad" and latency["notes"] == 2


def test_the_reference_is_the_true_speech_end_when_known():
    # Speech truly ends at 4.5 s; the VAD's estimate is 6.0 s. A segment closing and a note ending in
    # between count only against the VAD's estimate.
    events = turn_events([closed(1.0, A, B), note(3.0, A), closed(4.0, A, B, C), note(4.4, B, C),
                          closed(5.0, A, B, C, D), note(5.8, D)])
    assert note_coverage(events, 1, 4.5) == (3, 3)
    sidecar = turn_latency(events, 1, true_speech_end=4.5)
    assert (sidecar["segments_closed"], sidecar["segments_noted"]) == (3, 3)
    vad = turn_latency(events, 1)
    assert (vad["segments_closed"], vad["segments_noted"]) == (4, 4)
    later = turn_latency(events, 1, true_speech_end=4.3)  # the second note ends after it
    assert (later["segments_closed"], later["segments_noted"]) == (3, 1)


def test_yielded_notes_and_notes_after_the_end_cover_nothing():
    events = turn_events([closed(1.0, A, B), ev.NoteYielded(2.0, 1, (A, B), "action inference. The"),
                          note(6.3, A, B)])  # resumed and completed only after the end of speech
    latency = turn_latency(events, 1)
    assert (latency["segments_closed"], latency["segments_noted"]) == (2, 0)
    assert latency["notes_yielded"] == 1 and latency["notes_after_speech_end"] == 1


def test_a_revision_of_earlier_text_drops_the_notes_written_about_it():
    revised = "What is the capital of Francis?"
    events = turn_events([closed(1.0, A), note(1.5, A), closed(2.0, A, B), note(2.5, B),
                          closed(3.0, revised, B), ev.MemoryTruncated(3.0, 1, kept=0, dropped=2),
                          closed(3.5, revised, B, C), note(4.0, revised, B, C)])
    assert note_coverage(events, 1, 6.0) == (3, 3)
    assert note_coverage(events, 1, 3.2) == (2, 0)  # both notes were about the old first segment
    # a note about segments revised while it was written covers nothing, nor does any after it
    racing = turn_events([closed(1.0, A, B), closed(2.0, revised, B), note(2.5, A, B), closed(3.0, revised, B, C)])
    assert note_coverage(racing, 1, 6.0) == (3, 0)
    last = turn_events([closed(1.0, A, B), closed(2.0, revised, B), note(2.5, A, B)])  # no segment closed after it
    assert note_coverage(last, 1, 6.0) == (2, 0)


def test_a_note_rewritten_after_a_revision_counts():
    # Seen in a replay: the note about "japan" ended after Whisper revised it to "Japan"; the loop dropped
    # it and wrote the note again for the revised segment. Only the stale note covers nothing.
    revised = A.replace("capital", "Capital")
    events = turn_events([closed(1.0, A), closed(1.4, revised), note(1.5, A), note(2.5, revised),
                          closed(3.0, revised, B), note(3.5, B)])
    assert note_coverage(events, 1, 6.0) == (2, 2)
    assert note_coverage(events, 1, 3.2) == (2, 1)


def test_a_repeated_sentence_counts_once_per_place():
    events = turn_events([closed(1.0, D), note(1.2, D), closed(2.0, D, A, D)])
    assert note_coverage(events, 1, 6.0) == (3, 1)


def test_other_turns_and_turns_without_segments():
    events = turn_events([closed(1.0, A), note(1.5, A)])
    other = [closed(7.0, B, C, turn=2), note(7.5, B, C, turn=2)]
    assert note_coverage(events + other, 1, 6.0) == (1, 1)
    assert note_coverage(events + other, 2, 8.0) == (2, 2)
    bare = turn_latency(turn_events([]), 1)  # baseline and direct: no segments, no notes
    assert (bare["segments_closed"], bare["segments_noted"]) == (0, 0)


def test_latencies_from_the_reference():
    latency = turn_latency(turn_events([], vad_end=6.0, decided=6.6), 1, true_speech_end=5.9)
    assert latency["eou_detected_s"] == pytest.approx(0.7)
    assert latency["first_token_s"] == pytest.approx(0.9) and latency["answer_done_s"] == pytest.approx(1.2)
    with pytest.raises(ValueError, match="no SpeechEnded"):
        turn_latency(turn_events([]), 2)


def test_replay_summary_line_shows_the_coverage():
    from pathlib import Path

    from voice_livemind.replay import ReplayResult, notes_line

    def result(notes, **latency):
        return ReplayResult(Path("out"), latency, "text", "answer", notes)

    assert notes_line(result(["a", "b", "c"], segments_closed=5, segments_noted=4)) == (
        "3 written while listening, covering 4 of 5 segments closed before the end of speech")
    assert notes_line(result(["a"], segments_closed=1, segments_noted=0)).endswith("covering 0 of 1 segment closed "
                                                                                  "before the end of speech")
    assert notes_line(result([], segments_closed=0, segments_noted=0)) == "0 written while listening"


def test_a_resumed_turn_has_one_final_transcript_the_last():
    # the end model ended turn 1 after its first part, the final transcript was made, the user went on:
    # the second final holds the whole turn. Joining both wrote the first part twice (seen in CI: WER 0.61).
    events = [ev.TranscriptUpdate(t=1.0, turn=1, stable="A farmer has a field.", unstable="", final=True),
              ev.TurnResumed(t=1.2, turn=1, audio_t=1.1),
              ev.TranscriptUpdate(t=3.0, turn=1, stable="A farmer has a field. How big is it?", unstable="", final=True),
              ev.TranscriptUpdate(t=5.0, turn=2, stable="Thanks.", unstable="", final=True)]
    assert final_transcripts(events) == {1: "A farmer has a field. How big is it?", 2: "Thanks."}


def test_a_resumed_turn_times_its_answer_from_the_last_end_not_the_stopped_one():
    # seen on long_question: the end model ended the turn in a pause, the answer had started, the user went
    # on; that answer ended (interrupted) after the resume and its AnswerDone, 2 s before the true end of
    # speech, was taken as the turn's "answer done" (-2.04 s)
    import numpy as np

    events = [ev.SpeechEnded(t=1.0, turn=1, audio_t=0.9, reason="end_model"),
              ev.AnswerStarted(t=1.1, turn=1, mode="direct"),
              ev.TurnResumed(t=1.4, turn=1, audio_t=1.3),
              ev.AnswerDelta(t=1.41, turn=1, text="The"),
              ev.AnswerDone(t=1.45, turn=1, text="", tokens=1, interrupted=True),
              ev.SpeechEnded(t=3.5, turn=1, audio_t=3.2),
              ev.TranscriptUpdate(t=3.6, turn=1, stable="A farmer. How big?", unstable="", final=True),
              ev.AnswerStarted(t=3.65, turn=1, mode="direct"),
              ev.AnswerDelta(t=3.8, turn=1, text="It"),
              ev.SentenceReady(t=3.9, turn=1, text="It is big."),
              ev.AnswerDone(t=4.0, turn=1, text="It is big.", tokens=4),
              ev.TTSAudio(t=4.1, turn=1, samples=np.zeros(10, dtype=np.float32))]
    latency = turn_latency(events, 1, true_speech_end=3.0)
    assert latency["first_token_s"] == pytest.approx(0.8)
    assert latency["answer_done_s"] == pytest.approx(1.0)
    assert latency["first_audio_s"] == pytest.approx(1.1)
