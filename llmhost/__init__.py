"""llmhost: take bare Linux hosts to a verified LLM-serving state with pyinfra, and keep them there."""

__version__ = "0.1.0"
