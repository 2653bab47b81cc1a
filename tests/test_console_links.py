"""The console's signed links (console/links.py) and the files it serves through them: a link names one
file for a while; nothing outside the output root is served, whatever a link names."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from console.gateway_client import Gateway
from console.links import Signer
from console.pages import Console
from console.settings import ConsoleSettings


def test_a_link_names_its_file_until_it_expires() -> None:
    signer = Signer(b"s" * 32, seconds=60)
    link = signer.link("/out/acme/j/0.mp4", now=1000)
    query = dict(part.split("=", 1) for part in link.split("?", 1)[1].split("&"))
    assert signer.path_of(query["p"], query["e"], query["s"], now=1059) == "/out/acme/j/0.mp4"
    assert signer.path_of(query["p"], query["e"], query["s"], now=1061) is None  # expired
    other = Signer(b"t" * 32, seconds=60)
    assert other.path_of(query["p"], query["e"], query["s"], now=1000) is None  # another console's secret
    forged = signer.link("/out/globex/j/0.mp4", now=1000).split("p=")[1].split("&")[0]
    assert signer.path_of(forged, query["e"], query["s"], now=1000) is None  # another file, same signature
    assert signer.path_of("%%%", "x", query["s"], now=1000) is None


def test_only_files_under_the_output_root_are_served_with_ranges(tmp_path: Path) -> None:
    root = tmp_path / "outputs"
    (root / "acme").mkdir(parents=True)
    video = root / "acme" / "0.mp4"
    video.write_bytes(bytes(range(256)) * 40)
    outside = tmp_path / "secret.txt"
    outside.write_text("not for browsers")
    (root / "acme" / "link.mp4").symlink_to(outside)  # inside by name, outside in fact

    async def scenario() -> None:
        console = Console(
            ConsoleSettings(output_dir=str(root), console_secret="k" * 32), Gateway("127.0.0.1:1")
        )
        async with TestClient(TestServer(console.app())) as client:
            link = console.signer.link(str(video), now=time.time())
            whole = await client.get(link)
            assert whole.status == 200 and whole.headers["Content-Type"] == "video/mp4"
            assert len(await whole.read()) == 10240
            part = await client.get(link, headers={"Range": "bytes=100-199"})
            assert part.status == 206 and await part.read() == (bytes(range(256)) * 40)[100:200]
            assert "Content-Security-Policy" in whole.headers
            for path in (str(outside), str(root / "acme" / "link.mp4"), str(root / "acme" / "nope.mp4")):
                denied = await client.get(console.signer.link(path, now=time.time()))
                assert denied.status == 404, path
            expired = console.signer.link(str(video), now=0)
            assert (await client.get(expired)).status == 403
        await console.gateway.close()

    asyncio.run(scenario())
