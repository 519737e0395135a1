from __future__ import annotations

from typing import TYPE_CHECKING

from voice_livemind.llm.base import ChatModel, Generation, Message

if TYPE_CHECKING:
    from voice_livemind.config import LLMConfig

__all__ = ["ChatModel", "Generation", "Message", "load_chat_model"]


def load_chat_model(config: LLMConfig) -> ChatModel:
    """The chat model of one `models.<role>` config section, on its `engine` (llama_cpp, transformers, or openai:
    a client of a serving engine at `base_url`).

    Raises models.ModelNotFoundError when the engine is not installed or the model file cannot be found or
    loaded; the message names the file and the fix.
    """
    if config.engine == "llama_cpp":
        from voice_livemind.llm.llama_cpp_backend import LlamaCppChatModel

        return LlamaCppChatModel(config)
    if config.engine == "transformers":
        from voice_livemind.llm.transformers_backend import TransformersChatModel

        return TransformersChatModel(config)
    if config.engine == "openai":
        from voice_livemind.llm.openai_backend import OpenAIChatModel

        return OpenAIChatModel(config)
    raise ValueError(f"unknown engine {config.engine!r}: expected 'llama_cpp', 'transformers' or 'openai'")
