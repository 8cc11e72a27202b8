"""Framework adapters: py-code-mode's catalog rendered as native AutoGen, LangChain,
LlamaIndex and MCP tools. Each module imports its framework lazily from here."""
