"""The frame sources: a file replayed on the clock and live audio pushed from another thread."""

import threading

import numpy as np
import pytest

from voice_livemind.audio.live import LiveSource
from voice_livemind.audio.source import ArraySource
from voice_livemind.clock import RealClock, VirtualClock
from voice_livemind.config import ConversationConfig
from voice_livemind.conversation import Conversation


def test_array_source_hands_out_frames_as_the_clock_reaches_their_end():
    clock = VirtualClock()
    source = ArraySource(np.zeros(16000, np.float32), 30)
    assert source.ready(0.0) == []
    assert [f.t for f in source.ready(0.061)] == pytest.approx([0.0, 0.03])
    assert source.next_arrival() == pytest.approx(0.09) and not source.waiting()
    rest = source.ready(10.0)
    assert rest[-1].samples.shape == (480,) and source.exhausted  # the short last frame is padded


def test_live_source_timestamps_frames_by_sample_count_from_the_first_sample():
    clock = VirtualClock(start=1.0)
    source = LiveSource(clock, frame_ms=30)
    source.push(np.ones(1600, np.float32))  # 0.1 s that ended at clock 1.0: it started at 0.9
    clock.sleep(5.0)  # late deliveries do not shift the timestamps: they count samples
    source.push(np.ones(900, np.float32))
    frames = source.ready(clock.now())
    assert [round(f.t, 3) for f in frames] == [0.9, 0.93, 0.96, 0.99, 1.02]
    assert not source.exhausted
    source.close()  # the 100 samples left over become one padded frame
    last = source.ready(clock.now())
    assert len(last) == 1 and last[0].t == pytest.approx(1.05) and last[0].samples[100:].max() == 0
    assert source.exhausted
    source.push(np.ones(480, np.float32))  # after close: ignored
    assert source.ready(clock.now()) == []


def test_live_source_is_bounded_and_drops_the_oldest():
    source = LiveSource(VirtualClock(), frame_ms=30, max_s=0.09)
    source.push(np.zeros(480 * 10, np.float32))
    frames = source.ready(0.0)
    assert len(frames) == 3 and source.dropped == 7
    assert frames[0].t == pytest.approx(-0.3 + 0.21)  # the newest three, still timed by sample count


def test_a_push_wakes_a_scheduler_waiting_on_the_clock():
    clock = RealClock()
    source = LiveSource(clock, frame_ms=30, idle_wait_s=5.0)
    timer = threading.Timer(0.05, source.push, args=(np.zeros(480, np.float32),))
    timer.start()
    assert clock.wait_for(source.waiting, clock.now() + 5.0)  # returns on the push, long before 5 s
    timer.join()
    assert clock.now() < 2.0 and len(source.ready(0.0)) == 1


def test_conversation_is_bounded_in_turns_and_characters():
    convo = Conversation(ConversationConfig(max_turns=2, max_chars=60))
    convo.add("one?", "1.")
    convo.add("two?", "2.")
    convo.add("three?", "3.")
    assert [m["content"] for m in convo.messages()] == ["two?", "2.", "three?", "3."]
    convo.add("a long question " * 3, "a long answer")
    assert len(convo) == 1  # 61 characters alone is over the limit with anything else
    convo.add("", "nothing was asked")
    convo.add("interrupted before a word", "")
    assert len(convo) == 1
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "now?"}]
    with_history = convo.with_history(messages)
    assert [m["role"] for m in with_history] == ["system", "user", "assistant", "user"]
    assert Conversation(ConversationConfig(max_turns=0)).with_history(messages) == messages
