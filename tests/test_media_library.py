"""The media library over gRPC, on a real stack: a worker probes each media at registration, and a
MediaId stands for its URL."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from cli.samples import make_music
from conftest import Stack, client_stack
from reelmill.v1 import batch_service_pb2 as api


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with client_stack(tmp_path_factory.mktemp("media")) as s:
        make_music(str(s.media_dir / "m.m4a"), 2.0)
        yield s


def register(stack: Stack, url: str, **fields: str) -> api.RegisterMediaResponse:
    return stack.stub.RegisterMedia(api.RegisterMediaRequest(input_url=url, **fields), timeout=90)


def violation(err: grpc.RpcError) -> tuple[str, str]:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return bad.field_violations[0].field, bad.field_violations[0].description
    raise AssertionError(f"no BadRequest in {status}")


def test_a_registered_media_is_probed_and_named_by_its_id(stack: Stack) -> None:
    video = register(stack, f"file://{stack.media_dir}/a.mp4", title="opening")
    assert len(video.media_id) == 32 and video.media.media_id == video.media_id
    m = video.media
    assert (m.media_type, m.status, m.width, m.height, m.title) == ("video", "Normal", 320, 240, "opening")
    assert m.duration == pytest.approx(1.5, abs=0.05) and m.has_audio
    still = register(stack, f"file://{stack.media_dir}/still.png").media
    assert (still.media_type, still.duration, still.width) == ("image", 0, 320)
    music = register(stack, f"file://{stack.media_dir}/m.m4a").media
    assert (music.media_type, music.width, music.has_audio) == ("audio", 0, True)
    assert music.duration == pytest.approx(2.0, abs=0.1)

    got = stack.stub.GetMedia(api.GetMediaRequest(media_id=video.media_id)).media
    assert got == video.media
    listed = stack.stub.ListMedia(api.ListMediaRequest(max_results=2))
    assert [x.media_id for x in listed.media_list] == [music.media_id, still.media_id] and listed.next_token
    rest = stack.stub.ListMedia(api.ListMediaRequest(max_results=2, next_token=listed.next_token))
    assert [x.media_id for x in rest.media_list] == [video.media_id] and not rest.next_token

    stack.stub.DeleteMedia(api.DeleteMediaRequest(media_ids=[still.media_id]))
    with pytest.raises(grpc.RpcError) as e:
        stack.stub.GetMedia(api.GetMediaRequest(media_id=still.media_id))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_media_a_render_could_not_use_are_refused_at_registration(stack: Stack) -> None:
    for url, field, says in [
        (f"file://{stack.media_dir}/missing.mp4", "InputURL", "InvalidMaterial.NotFound"),
        ("file:///etc/passwd", "InputURL", "under"),
        (f"file://{stack.media_dir}/a.mp4", "MediaType", "the media is video"),
    ]:
        with pytest.raises(grpc.RpcError) as e:
            register(stack, url, media_type="image" if field == "MediaType" else "")
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        got_field, description = violation(e.value)
        assert got_field == field and says in description, description


def test_without_a_worker_registration_is_unavailable(stack: Stack) -> None:
    stack.stop("worker")
    try:
        with pytest.raises(grpc.RpcError) as e:
            register(stack, f"file://{stack.media_dir}/a.mp4")
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "worker" in e.value.details()
    finally:
        stack.start("worker")
