"""A small MCP server for the tests: stdio by default, streamable HTTP with --http PORT."""

import os
import sys
import time

from mcp.server import MCPServer

server = MCPServer("test-tools")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@server.tool()
def greet(name: str) -> str:
    """Greet someone by name."""
    return f"Hello, {name}!"


@server.tool()
def stats(values: list[float]) -> dict:
    """Summary statistics of a list of numbers."""
    return {"count": len(values), "total": sum(values)}


@server.tool()
def fail(message: str) -> str:
    """Always raise an error."""
    raise ValueError(message)


@server.tool()
def hang(seconds: float = 60) -> str:
    """Sleep a long time."""
    time.sleep(seconds)
    return "woke"


@server.tool()
def die() -> str:
    """Exit the server process abruptly."""
    os._exit(1)


@server.tool()
def env(name: str) -> str:
    """Read an environment variable of the server."""
    return os.environ.get(name, "")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
