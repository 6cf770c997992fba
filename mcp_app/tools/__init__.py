"""Every tool the MCP server offers, in the order `tools/list` shows them."""

from mcp_app.tools import lists, tasks
from mcp_app.tools.base import ToolSpec

TOOLS: list[ToolSpec] = [*tasks.TOOLS, *lists.TOOLS]
BY_NAME: dict[str, ToolSpec] = {tool.name: tool for tool in TOOLS}
