"""The model gateway: scoped reviewer keys, an OpenAI-compatible proxy, usage records."""
