from voice_livemind.llm.base import ChatModel, Generation, Message

__all__ = ["ChatModel", "Generation", "Message"]
