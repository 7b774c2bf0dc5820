"""The Space as an MCP server: one tool per endpoint, every parameter described, and images back from a tool."""

import asyncio
import base64
import io

import pytest
from PIL import Image

from .conftest import launched_app, write_tiny_weights

TOOLS = {"sample_cats", "interpolate_cats", "transfer", "write_text", "sample_faces", "morph_faces", "edit_face",
         "reconstruct_face", "sample_cars", "walk_around_car"}


@pytest.fixture(scope="module")
def mcp_url(tmp_path_factory):
    with launched_app(write_tiny_weights(tmp_path_factory.mktemp("weights"))) as (_, url):
        yield f"{url}gradio_api/mcp/"


def with_session(url: str, work):
    """Run `work(session)` in an MCP client session over streamable HTTP; returns its result."""
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run():
        async with streamable_http_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await work(session)

    return asyncio.run(run())


def test_one_tool_per_endpoint_each_parameter_described(mcp_url):
    tools = with_session(mcp_url, lambda session: session.list_tools()).tools
    assert {tool.name for tool in tools} == TOOLS
    for tool in tools:
        assert tool.description and tool.inputSchema["properties"]
        for name, schema in tool.inputSchema["properties"].items():
            assert len(schema.get("description", "")) > 10, (tool.name, name)


def test_the_cats_tool_returns_images(mcp_url):
    result = with_session(mcp_url, lambda session: session.call_tool(
        "sample_cats", {"n": 3, "seed": 5, "truncation": 1.0, "model": "GAN (default)"}))  # fmt: skip
    images = [Image.open(io.BytesIO(base64.b64decode(c.data))) for c in result.content if c.type == "image"]
    assert not result.isError and [im.size for im in images] == [(16, 16)] * 3


@pytest.mark.parametrize("arguments, message", [
    ({"view": "sideways", "n": 2, "seed": 0}, "'sideways' is not one of ['front', "),  # the tool's schema
    ({"view": "rear", "n": 2.5, "seed": 0}, "The number of images must be a whole number from 1 to 64 (got 2.5)."),
])  # fmt: skip
def test_a_bad_argument_is_a_tool_error_with_its_message(mcp_url, arguments, message):
    result = with_session(mcp_url, lambda session: session.call_tool("sample_cars", arguments))
    assert result.isError and message in result.content[0].text
