"""The turn-taking models a config asks for: the frame classifier (webrtcvad, confirmed by Silero VAD with
`vad.confirm: silero`) and the end-of-turn model (smart-turn with `vad.end_model: smart_turn`).

A classifier keeps state (webrtcvad's noise estimate, Silero's recurrent state): each pipeline run or
session gets a new one; the ONNX sessions under them are loaded once and shared (onnxruntime's `run` may
be called from several threads).
"""

from __future__ import annotations

from functools import lru_cache

from voice_livemind.config import VADConfig


@lru_cache(maxsize=4)
def _silero_session(location: str):
    from voice_livemind.onnx_session import open_session

    return open_session(location, threads=1, device="cpu")  # 32 ms windows: a GPU launch would cost more


@lru_cache(maxsize=4)
def _smart_turn(location: str, threads: int, device: str):
    from voice_livemind.vad.smart_turn import SmartTurn

    return SmartTurn(location, threads=threads, device=device)


def speech_classifier(vad: VADConfig):
    """A new frame classifier for one run: webrtcvad, gated by Silero VAD when `vad.confirm` is silero."""
    from voice_livemind.vad.endpointer import WebRtcClassifier

    webrtc = WebRtcClassifier(vad.aggressiveness, vad.frame_ms)
    if vad.confirm == "none":
        return webrtc
    from voice_livemind.vad.silero import SileroConfirmed, SileroVAD

    silero = SileroVAD(session=_silero_session(vad.silero_path))
    return SileroConfirmed(webrtc, silero, threshold=vad.silero_threshold, frame_ms=vad.frame_ms)


def load_end_of_turn(vad: VADConfig):
    """The end-of-turn model `vad.end_model` names (shared: it keeps no state), or None."""
    if vad.end_model == "none":
        return None
    return _smart_turn(vad.end_model_path, vad.end_model_threads, vad.end_model_device)
