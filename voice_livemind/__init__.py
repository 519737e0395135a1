"""voice_livemind: a voice assistant that thinks while you speak (LiveMind, arXiv 2406.14319)."""

__version__ = "0.1.0"
