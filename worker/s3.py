"""Outputs to S3 (or any S3-compatible store) through boto3: the one module that talks to S3.

A single PUT makes the object visible only once it is complete, so no partial output is ever seen.
The PUT is conditional (If-None-Match: *): when the key already exists, the object is adopted if an
earlier delivery of the same sub-job wrote it (its metadata carries the sub-job's tag), and otherwise
replaced, as a local file at the same MediaURL would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from worker.errors import OutputExistsError, OutputWriteError
from worker.settings import WorkerSettings

TAG_KEY = "reelmill-tag"
DURATION_KEY = "reelmill-duration"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3(url: str) -> bool:
    return urlsplit(url).scheme == "s3"


def location(url: str) -> S3Location:
    parts = urlsplit(url)
    key = unquote(parts.path).lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or not key:
        raise OutputWriteError(f"{url}: not an s3://bucket/key URL")
    return S3Location(parts.netloc, key)


class S3Outputs:
    """Publishes rendered files to S3; endpoint and credentials from the worker settings."""

    def __init__(self, settings: WorkerSettings) -> None:
        # Imported here: boto3 takes a tenth of a second to import, which only s3:// outputs need to pay.
        import boto3
        from botocore.config import Config

        self.client = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url or None,
            region_name=settings.s3_region or None,
            aws_access_key_id=settings.s3_access_key_id or None,
            aws_secret_access_key=settings.s3_secret_access_key or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}),
        )

    def publish(self, path: str, where: S3Location, tag: str, duration_s: float) -> None:
        metadata = {TAG_KEY: tag, DURATION_KEY: f"{duration_s:.6f}"}
        try:
            try:
                self._put(path, where, metadata, if_none_match=True)
            except ClientError as e:
                if _status(e) != 412:
                    raise
                if self.existing(where, tag) is not None:  # another job's object: OutputExistsError
                    return  # an earlier delivery of this sub-job wrote it
                self._put(path, where, metadata, if_none_match=True)  # it went meanwhile: once more
        except ClientError as e:
            raise _write_error(where, e) from e
        except (BotoCoreError, OSError) as e:
            raise OutputWriteError(f"cannot upload {where.url}: {e}") from e

    def put_poster(self, path: str, where: S3Location) -> None:
        """The output's poster beside it (key x.mp4 → x.jpg), once the output itself is there."""
        key = where.key.rsplit(".", 1)[0] + ".jpg"
        try:
            with open(path, "rb") as body:
                self.client.put_object(Bucket=where.bucket, Key=key, Body=body, ContentType="image/jpeg")
        except ClientError as e:
            raise _write_error(where, e) from e
        except (BotoCoreError, OSError) as e:
            raise OutputWriteError(f"cannot upload the poster of {where.url}: {e}") from e

    def existing(self, where: S3Location, tag: str) -> float | None:
        """The duration of the object at `where` if this sub-job wrote it; None when there is none;
        OutputExistsError when another job's object is there (never overwritten)."""
        try:
            head = self.client.head_object(Bucket=where.bucket, Key=where.key)
        except ClientError as e:
            if _status(e) in (403, 404):
                return None
            raise _write_error(where, e) from e
        except BotoCoreError as e:
            raise OutputWriteError(f"cannot read {where.url}: {e}") from e
        meta = head.get("Metadata", {})
        if meta.get(TAG_KEY) != tag:
            raise OutputExistsError(f"{where.url} already holds another job's output; it is not overwritten")
        try:
            return float(meta.get(DURATION_KEY, "0"))
        except ValueError:
            return 0.0

    def _put(self, path: str, where: S3Location, metadata: dict[str, str], *, if_none_match: bool) -> None:
        extra = {"IfNoneMatch": "*"} if if_none_match else {}
        with open(path, "rb") as body:
            self.client.put_object(Bucket=where.bucket, Key=where.key, Body=body, ContentType="video/mp4",
                                   Metadata=metadata, **extra)  # fmt: skip


def _status(e: ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def _write_error(where: S3Location, e: ClientError) -> OutputWriteError:
    code = e.response.get("Error", {}).get("Code", "")
    err = OutputWriteError(f"cannot write {where.url}: {code or _status(e)}: {e}")
    if 400 <= _status(e) < 500 and _status(e) not in (408, 429):
        err.retryable = False  # no such bucket, access denied…: retrying does not help
    return err
