from voice_livemind.vad.endpointer import Boundary, Endpointer, WebRtcClassifier

__all__ = ["Boundary", "Endpointer", "WebRtcClassifier"]
