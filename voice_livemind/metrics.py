"""Latency spans computed from event timestamps (never from ad-hoc timers)."""

from __future__ import annotations

from voice_livemind import events as ev


def _first(events, cls, turn):
    return next((e for e in events if isinstance(e, cls) and e.turn == turn), None)


def _after_stopped_answer(after: list[ev.Event], before: list[ev.Event], turn: int) -> list[ev.Event]:
    """The events after a resume, less the end of the answer that the resume stopped.

    An answer started for the earlier end and still running when the user went on ends (interrupted) after
    the `TurnResumed`; its `AnswerDone` and any last pieces are not milestones of the turn's real end.
    """
    started = sum(1 for e in before if isinstance(e, ev.AnswerStarted) and e.turn == turn)
    done = sum(1 for e in before if isinstance(e, ev.AnswerDone) and e.turn == turn)
    if started <= done:
        return after
    stopped_at = next((i for i, e in enumerate(after) if isinstance(e, ev.AnswerDone) and e.turn == turn), None)
    if stopped_at is None:
        return after
    answer_events = (ev.AnswerDelta, ev.SentenceReady, ev.AnswerDone)
    return [e for i, e in enumerate(after) if i > stopped_at or not isinstance(e, answer_events)]


def final_transcripts(events: list[ev.Event]) -> dict[int, str]:
    """The final transcript of each turn. A turn that resumed (the end model ended it, then the user went
    on before any of the answer was heard) has one final transcript per end: the last holds all of it."""
    finals: dict[int, str] = {}
    for event in events:
        if isinstance(event, ev.TranscriptUpdate) and event.final:
            finals[event.turn] = event.stable
    return finals


def note_coverage(events: list[ev.Event], turn: int, speech_end: float) -> tuple[int, int]:
    """(segments_closed, segments_noted) of a turn at the end of speech (`speech_end`, clock time).

    segments_closed: the segments closed before the end of speech, those of the turn's last `SegmentsClosed`
    event with t <= speech_end. segments_noted: how many of them completed notes (`Note`, not `NoteYielded`)
    with t <= speech_end had covered. Notes cover the closed segments in order, each continuing where the
    previous stopped (the inference memory); a revision of earlier text (a new `SegmentsClosed` whose
    segments no longer start with a note's) drops that note and every later one, as the memory does, so
    a note about words that were recognised differently later covers nothing; a note that ends after such
    a revision is dropped alone, and the note written again for the revised segment counts.
    """
    closed: tuple[str, ...] = ()
    noted: list[tuple[str, ...]] = []  # the segments of each note still valid, in order

    def align(segments: tuple[str, ...]) -> None:
        position = 0
        for index, span in enumerate(noted):
            if segments[position: position + len(span)] != span:
                del noted[index:]
                return
            position += len(span)

    for event in events:
        if event.turn != turn or event.t > speech_end + 1e-9:
            continue
        if isinstance(event, ev.SegmentsClosed):
            closed = tuple(event.segments)
            align(closed)
        elif isinstance(event, ev.Note) and event.segments:
            noted.append(tuple(event.segments))
            align(closed)  # a note about segments revised while it ran covers nothing (the memory drops it)
    align(closed)  # a note written about segments revised before it ended covers nothing
    return len(closed), sum(len(span) for span in noted)


def turn_latency(events: list[ev.Event], turn: int, true_speech_end: float | None = None) -> dict:
    """Seconds from the end of the user's speech to each milestone of the answer.

    The reference point is the true end of speech when it is known (a fixture's annotation), because
    measuring from our own VAD decision would hide the VAD's hangover; otherwise the VAD's estimate of
    where speech ended (the end of the last speech frame), which is still before the hangover.
    """
    all_events = events
    resumed = [i for i, e in enumerate(events) if isinstance(e, ev.TurnResumed) and e.turn == turn]
    if resumed:  # the end model ended the turn, the user went on: its milestones are those of the last end
        events = _after_stopped_answer(events[resumed[-1]:], events[:resumed[-1]], turn)
    ended = _first(events, ev.SpeechEnded, turn)
    if ended is None:
        raise ValueError(f"turn {turn} has no SpeechEnded event")
    reference = true_speech_end if true_speech_end is not None else ended.audio_t
    source = "sidecar" if true_speech_end is not None else "vad"

    def since(event):
        return None if event is None else round(event.t - reference, 4)

    final = next((e for e in events if isinstance(e, ev.TranscriptUpdate) and e.turn == turn and e.final), None)
    notes = [e for e in all_events if isinstance(e, ev.Note) and e.turn == turn]
    discarded = [e for e in all_events if isinstance(e, ev.SpeculationDiscarded) and e.turn == turn]
    audio = [e for e in events if isinstance(e, ev.TTSAudio) and e.turn == turn]
    closed, noted = note_coverage(all_events, turn, reference)
    return {
        "speech_end_source": source,
        "speech_end_s": round(reference, 4),
        "eou_detected_s": since(ended),
        "final_transcript_s": since(final),
        "first_token_s": since(_first(events, ev.AnswerDelta, turn)),
        "first_sentence_s": since(_first(events, ev.SentenceReady, turn)),
        "first_audio_s": since(audio[0] if audio else None),
        "answer_done_s": since(_first(events, ev.AnswerDone, turn)),
        "audio_done_s": since(audio[-1] if audio else None),
        "notes": len(notes),
        "notes_after_speech_end": sum(1 for n in notes if n.t > reference),
        # note coverage at the end of speech: segments closed by then, and how many of them notes covered
        "segments_closed": closed,
        "segments_noted": noted,
        "notes_yielded": sum(1 for e in all_events if isinstance(e, ev.NoteYielded) and e.turn == turn),
        # speculative answers started in pauses, whether the last one was used, and the lane time thrown away
        "speculations": sum(1 for e in all_events if isinstance(e, ev.SpeculationStarted) and e.turn == turn),
        "speculation_used": _first(events, ev.SpeculationUsed, turn) is not None,
        "speculation_wasted_s": round(sum(e.compute_s for e in discarded), 4),
    }
