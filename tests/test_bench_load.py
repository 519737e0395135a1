"""The load test of serve (voice_livemind.bench.load) with fake models: rounds of N clients, the capacity."""

import asyncio

from tests.test_server import QUESTION, SPEED, fake_backends
from voice_livemind.bench.load import capacity, measure, plot
from voice_livemind.config import load_config
from voice_livemind.server import VoiceServer
from tests.fakes import energy_vad


def test_rounds_of_clients_report_first_audio_and_answers_per_minute(tmp_path):
    config = load_config(overrides=["mode=direct"])
    backends = fake_backends()
    rows = asyncio.run(asyncio.wait_for(measure(
        lambda: VoiceServer(config, backends, host="127.0.0.1", port=0, max_sessions=2,
                            make_is_speech=lambda: energy_vad), QUESTION, [1, 2], SPEED, warmup=False), timeout=60))
    assert [(r["sessions"], r["answered"], r["refused"]) for r in rows] == [(1, 1, 0), (2, 2, 0)]
    # (first audio is measured on the server's clock from the end of speech: streamed faster than real time,
    # the fake answer can come before the audio's end would have)
    assert all(r["first_audio_median_s"] is not None and r["answers_per_min"] > 0 for r in rows)
    assert len(rows[1]["first_audio_s"]) == 2
    plot(rows, tmp_path / "load.png", "fake")
    assert (tmp_path / "load.png").stat().st_size > 1000


def test_capacity_is_the_largest_n_within_the_tolerance():
    rows = [{"sessions": n, "answered": n, "first_audio_median_s": t} for n, t in [(1, 1.0), (2, 1.2), (4, 1.6), (8, 3.0)]]
    assert capacity(rows) == 2 and capacity(rows, tolerance=2.0) == 4
    rows[1]["answered"] = 1  # a session not answered does not fit
    assert capacity(rows) == 1
