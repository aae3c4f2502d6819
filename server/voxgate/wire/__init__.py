"""msgspec Structs for OpenAI's wire formats, one module per contract."""
