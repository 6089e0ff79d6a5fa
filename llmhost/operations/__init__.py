"""pyinfra operations of llmhost: each reads a fact, compares, and yields commands or a noop."""
