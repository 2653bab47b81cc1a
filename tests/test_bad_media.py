"""Media that fail while rendering: each a Failed sub-job with the spec's code and a message a person
can act on; the worker stays up and the other jobs render."""

from __future__ import annotations

import os
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import pytest

from cli.client import submit_request
from cli.samples import make_video
from conftest import Stack, make_stack

NOT_FOUND, UNREADABLE, TOO_LARGE = (
    "InvalidMaterial.NotFound",
    "InvalidMaterial.Unreadable",
    "InvalidMaterial.TooLarge",
)


def png_bomb(width: int, height: int) -> bytes:
    """A valid black 1-bit PNG: tens of kilobytes on disk, width × height × 3 bytes once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixels = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte + the packed row
    data = b"".join(pixels.compress(row) for _ in range(height)) + pixels.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def write_bad_media(media: Path) -> None:
    make_video(str(media / "good.mp4"), 320, 240, 1.0)
    make_video(str(media / "long.mp4"), 160, 120, 6.0)
    data = (media / "good.mp4").read_bytes()
    (media / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (media / "noise.mp4").write_bytes(os.urandom(50_000))
    (media / "empty.mp4").write_bytes(b"")
    (media / "text.mp4").write_text("this is not a video\n" * 100)
    (media / "bomb.png").write_bytes(png_bomb(20000, 20000))
    (media / "big.png").write_bytes(png_bomb(9000, 9000))  # above the worker's pixel limit only
    with av.open(str(media / "sound.wav"), "w") as out:  # audio only: no picture to show
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame(format="s16", layout="mono", samples=8000)
        frame.planes[0].update(bytes(frame.planes[0].buffer_size))
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(media / "video.nut"), "w", format="nut") as out:  # a format not on the allow list
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame(64, 64, "yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    # A playlist that would make a lax demuxer read a local file (here: the good clip).
    (media / "list.m3u8").write_text(f"#EXTM3U\n#EXTINF:1,\nfile://{media}/good.mp4\n#EXT-X-ENDLIST\n")
    (media / "escape.mp4").symlink_to("/etc/passwd")


class MediaServer:
    """Serves the media folder over HTTP, with a few misbehaving paths."""

    def __init__(self, media: Path) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path == "/redirect-to-metadata":
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data")
                    self.end_headers()
                elif self.path == "/huge.mp4":
                    self.send_response(200)
                    self.send_header("Content-Length", str(50 << 30))
                    self.end_headers()
                elif (media / self.path.lstrip("/")).is_file():
                    body = (media / self.path.lstrip("/")).read_bytes()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self.send_error(404)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


CASES = [
    # (media, expected code or "Success", a phrase of the message)
    ("file://{media}/good.mp4", "Success", ""),
    ("file://{media}/truncated.mp4", UNREADABLE, "truncated.mp4"),
    ("file://{media}/noise.mp4", UNREADABLE, "noise.mp4"),
    ("file://{media}/empty.mp4", UNREADABLE, "empty"),
    ("file://{media}/text.mp4", UNREADABLE, "text.mp4"),
    ("file://{media}/bomb.png", TOO_LARGE, "too large a picture"),
    ("file://{media}/big.png", TOO_LARGE, "9000x9000"),
    ("file://{media}/sound.wav", UNREADABLE, "no video stream"),
    ("file://{media}/video.nut", UNREADABLE, "video.nut"),
    ("file://{media}/list.m3u8", UNREADABLE, "list.m3u8"),
    ("file://{media}/long.mp4", TOO_LARGE, "limit of 5 s"),
    ("file://{media}/missing.mp4", NOT_FOUND, "no such file"),
    ("file://{media}/escape.mp4", NOT_FOUND, "media root"),
    ("{http}/good.mp4", "Success", ""),
    ("{http}/missing.mp4", NOT_FOUND, "HTTP 404"),
    ("{http}/redirect-to-metadata", NOT_FOUND, "not public"),
    ("{http}/huge.mp4", TOO_LARGE, "bytes"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    s = make_stack(tmp_path_factory.mktemp("bad-media"), None, REELMILL_ALLOWED_NETWORKS="127.0.0.1/32",
                   REELMILL_MEDIA_NETWORKS="127.0.0.1/32", REELMILL_MAX_MEDIA_DURATION_S="5")  # fmt: skip
    try:
        write_bad_media(s.media_dir)
        server = MediaServer(s.media_dir)
        s.start("gateway")
        s.start("worker")
        yield s, server.base
        server.server.shutdown()
        server.server.server_close()
    finally:
        s.close()


@pytest.fixture(scope="module")
def outcomes(stack: tuple[Stack, str]) -> dict[str, tuple[str, str, str]]:
    """Every case submitted at once as its own job; the outcome of each once all have ended."""
    s, base = stack
    jobs = {}
    for template, _, _ in CASES:
        url = template.format(media=s.media_dir, http=base)
        doc = {"InputConfig": {"MediaArray": [url]},
               "OutputConfig": {"Width": 64, "Height": 64, "FixedDuration": 0.5}}  # fmt: skip
        jobs[template] = s.stub.SubmitBatchMediaProducingJob(submit_request(doc, "/"), timeout=10).job_id
    results = {}
    for template, job_id in jobs.items():
        s.watch(job_id, timeout_s=60)
        sub = s.get(job_id).sub_job_list[0]
        results[template] = (sub.status, sub.error_code, sub.error_message)
    return results


@pytest.mark.parametrize(("media", "expected", "phrase"), CASES, ids=[c[0].rsplit("/", 1)[1] for c in CASES])
def test_bad_media_fail_their_sub_job_with_a_code(outcomes: dict[str, tuple[str, str, str]], media: str,
                                                  expected: str, phrase: str) -> None:  # fmt: skip
    status, code, message = outcomes[media]
    if expected == "Success":
        assert (status, code) == ("Success", ""), message
    else:
        assert (status, code) == ("Failed", expected), message
        assert phrase in message


def test_the_worker_survived_every_case(stack: tuple[Stack, str], outcomes: dict[str, object]) -> None:
    s, _ = stack
    assert s.processes["worker"].poll() is None
    assert "Traceback" not in s.log("worker")
