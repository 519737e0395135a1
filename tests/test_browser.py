"""End to end in headless Chromium: the page captures a fake microphone fed from a fixture WAV, streams it
to the server (fake models), shows the transcript and the answer and schedules the answer audio.

The page reports what it has shown back over its WebSocket ({"type": "report", "shown": ...}), so the test
reads the browser's side from the server's session summary; no browser driver is needed.
"""

import asyncio
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.test_server import ANSWER, fake_backends
from tests.fakes import energy_vad
from voice_livemind.config import load_config
from voice_livemind.server import VoiceServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "audio_fixtures" / "short_question.wav"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.slow


def chromium_or_skip() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def launch(url: str, profile: Path, log: Path) -> subprocess.Popen:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
             f"--use-file-for-fake-audio-capture={FIXTURE}", "--autoplay-policy=no-user-gesture-required"]
    return subprocess.Popen([chromium_or_skip(), *flags, url], stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def shown(server: VoiceServer, what: str) -> list[dict]:
    summaries = [s.summary for s in server.sessions.values()] + list(server.finished)
    return [r for s in summaries for r in s.reports if r.get("shown") == what]


def test_the_page_answers_a_question_from_a_fake_microphone(tmp_path):
    chromium_or_skip()
    config = load_config(overrides=["mode=direct"])

    async def main():
        server = VoiceServer(config, fake_backends(), host="127.0.0.1", port=0, make_is_speech=lambda: energy_vad)
        await server.start()
        browser = launch(f"http://127.0.0.1:{server.port}/?autostart=1&processing=0", tmp_path / "profile",
                         tmp_path / "chromium.log")
        try:
            for _ in range(600):  # up to 60 s: Chromium's first start is slow on two cores
                if shown(server, "answer") and shown(server, "audio"):
                    break
                await asyncio.sleep(0.1)
            return shown(server, "answer"), shown(server, "audio")
        finally:
            os.killpg(browser.pid, signal.SIGTERM)
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(browser.pid, signal.SIGKILL)
                browser.wait()
            await server.stop()

    answers, audio = asyncio.run(main())
    log = (tmp_path / "chromium.log").read_text(errors="replace")[-3000:]
    assert answers, f"the page showed no answer; chromium said:\n{log}"
    assert answers[0]["text"] == ANSWER and answers[0]["transcript"] == "What is two plus two?"
    assert audio and audio[0]["seconds"] > 0.1  # the answer audio was decoded and scheduled
