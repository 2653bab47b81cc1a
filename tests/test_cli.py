"""The `reelmill` client commands against a real gateway and worker: exit codes, stdout and stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import Stack, client_stack


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def reelmill(stack: Stack, *args: str, timeout_s: float = 120) -> Run:
    proc = subprocess.run(
        [sys.executable, "-m", "cli", *args, "--gateway", stack.address],
        env=stack.env, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    return Run(proc.returncode, proc.stdout, proc.stderr)


def write_job(folder: Path, name: str, **changes: Any) -> Path:
    """An ICE job file with media relative to itself (file:a.mp4), as examples/job.json has."""
    doc: dict[str, Any] = {
        "InputConfig": {"MediaGroupArray": [
            {"GroupName": "opening", "MediaArray": ["file:a.mp4"], "Duration": 1.0},
            {"GroupName": "closing", "MediaArray": ["file:still.png"], "Duration": 0.5},
        ]},
        "OutputConfig": json.dumps({"Count": 2, "Width": 160, "Height": 288}),
        "UserData": json.dumps({"From": "cli"}),
        **changes,
    }  # fmt: skip
    path = folder / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with client_stack(tmp_path_factory.mktemp("cli")) as s:
        yield s


@pytest.fixture(scope="module")
def waited(stack: Stack) -> Run:
    """`reelmill submit JOB.json --wait` of a good job."""
    return reelmill(
        stack, "submit", str(write_job(stack.media_dir, "job.json")), "--wait", "--timeout", "120"
    )


def test_submit_wait_prints_the_finished_job(stack: Stack, waited: Run) -> None:
    assert waited.code == 0, waited.err + stack.log("worker")
    job = waited.json()["EditingBatchJob"]
    assert job["Status"] == "Finished"
    assert job["JobId"] in waited.err  # the id goes to stderr at once, the job to stdout at the end
    assert [s["Status"] for s in job["SubJobList"]] == ["Success", "Success"]
    assert json.loads(job["UserData"]) == {"From": "cli"}
    assert all(s["MediaURL"].startswith(f"file://{stack.output_dir}/") for s in job["SubJobList"])


def test_submit_without_wait_prints_the_job_id(stack: Stack) -> None:
    run = reelmill(stack, "submit", str(write_job(stack.media_dir, "quick.json", ClientToken="cli-quick")))
    assert run.code == 0, run.err
    job_id = run.out.strip()
    assert len(job_id) == 32
    again = reelmill(stack, "submit", str(stack.media_dir / "quick.json"))
    assert again.out.strip() == job_id  # the same ClientToken


def test_submit_of_a_malformed_config_lists_the_field(stack: Stack) -> None:
    # ICE's example mistake: no comma between two speech texts.
    group = '{"GroupName": "g", "MediaArray": ["file:a.mp4"]}'
    bad = f'{{"MediaGroupArray": [{group}], "SpeechTextArray": ["a" "b"]}}'
    run = reelmill(stack, "submit", str(write_job(stack.media_dir, "bad.json", InputConfig=bad)), "--wait")
    assert run.code == 1, (run.out, run.err)
    assert run.out == ""
    assert "INVALID_ARGUMENT" in run.err
    assert any(line.strip().startswith("InputConfig: malformed JSON") for line in run.err.splitlines()), (
        run.err
    )


def test_submit_of_a_file_that_is_not_json(stack: Stack) -> None:
    path = stack.media_dir / "broken.json"
    path.write_text('{"InputConfig": {}', encoding="utf-8")
    run = reelmill(stack, "submit", str(path))
    assert run.code == 2, (run.out, run.err)
    assert "malformed JSON" in run.err


def test_a_job_file_that_does_not_exist_is_an_error_not_a_traceback(stack: Stack) -> None:
    run = reelmill(stack, "submit", str(stack.media_dir / "no-such-job.json"))
    assert run.code == 2 and "no-such-job.json: no such file" in run.err and "Traceback" not in run.err


def test_version_and_a_closed_pipe(stack: Stack, waited: Run) -> None:
    version = subprocess.run([sys.executable, "-m", "cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("reelmill ")
    # `reelmill list --json | head -c 1`: the reader leaves early; no traceback, no noise.
    piped = subprocess.run(
        f"{sys.executable} -m cli list --json --gateway {stack.address} | head -c 1",
        shell=True, env=stack.env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert piped.stdout == "{" and "Traceback" not in piped.stderr and "BrokenPipe" not in piped.stderr


def test_templates_by_name_and_id_as_documented(stack: Stack, tmp_path: Path) -> None:
    config = tmp_path / "template.json"
    config.write_text(json.dumps({"EditingTemplateConfig": {"BackgroundMusicConfig": {"Volume": 0.2}}}))
    added = reelmill(stack, "template", "add", "spring-sale", "--file", str(config))
    assert added.code == 0, added.err
    template = json.loads(added.out)["Template"]
    assert template["Name"] == "spring-sale"
    got = reelmill(stack, "template", "get", template["TemplateId"])
    assert got.code == 0 and json.loads(got.out)["Template"]["Name"] == "spring-sale"
    gone = reelmill(stack, "template", "delete", template["TemplateId"])
    assert gone.code == 0 and template["TemplateId"] in gone.out


def test_get_prints_the_job(stack: Stack, waited: Run) -> None:
    job_id = waited.json()["EditingBatchJob"]["JobId"]
    run = reelmill(stack, "get", job_id)
    assert run.code == 0, run.err
    job = run.json()["EditingBatchJob"]
    assert job["JobId"] == job_id and job["Status"] == "Finished" and len(job["SubJobList"]) == 2


def test_get_of_an_unknown_job_fails(stack: Stack) -> None:
    run = reelmill(stack, "get", "0" * 32)
    assert run.code == 1
    assert "NOT_FOUND" in run.err


def test_list_by_status(stack: Stack, waited: Run) -> None:
    job_id = waited.json()["EditingBatchJob"]["JobId"]
    run = reelmill(stack, "list", "--status", "Finished", "--json")
    assert run.code == 0, run.err
    items = run.json()["EditingBatchJobList"]
    assert job_id in [j["JobId"] for j in items]
    assert {j["Status"] for j in items} == {"Finished"}
    assert all("SubJobList" not in j for j in items)

    bad = reelmill(stack, "list", "--max-results", "500")
    assert bad.code == 1 and "MaxResults" in bad.err

    times = reelmill(stack, "list", "--start-time", "yesterday")
    assert times.code == 2 and "RFC 3339" in times.err


def test_list_prints_a_table(stack: Stack, waited: Run) -> None:
    job_id = waited.json()["EditingBatchJob"]["JobId"]
    run = reelmill(stack, "list", "--status", "Finished")
    assert run.code == 0, run.err
    header, *rows = run.out.splitlines()
    assert header.split()[:3] == ["JOB", "ID", "STATUS"]
    row = next(r for r in rows if r.startswith(job_id))
    assert row.split()[1] == "Finished"


def test_submit_watch_shows_progress_then_a_summary(stack: Stack) -> None:
    run = reelmill(stack, "submit", str(write_job(stack.media_dir, "watched.json")), "--watch")
    assert run.code == 0, run.err + stack.log("worker")
    lines = run.out.splitlines()
    # One clip for two variants: Submit's warning says they cannot differ, then the job id.
    warning, job_id = run.err.strip().splitlines()[:2]
    assert warning.startswith("warning: Count 2 is more than the 1 combinations")
    assert lines[0].startswith(f"job {job_id} ")  # not a terminal: one plain line per change
    assert "  variant 1: Success 100%" in lines
    at = lines.index(next(line for line in lines if line.startswith("VARIANT")))
    table = [line.split() for line in lines[at + 1 : at + 3]]
    assert [(r[0], r[1]) for r in table] == [("0", "Success"), ("1", "Success")]
    assert table[0][-1].startswith(f"file://{stack.output_dir}/")
    assert lines[-1] == f"job {job_id} Finished: 2 of 2 variants rendered"


def test_get_and_list_print_json_or_a_table(stack: Stack, waited: Run) -> None:
    job_id = waited.json()["EditingBatchJob"]["JobId"]
    table = reelmill(stack, "get", job_id, "-o", "table")
    assert table.code == 0 and table.out.splitlines()[0].split()[:2] == ["VARIANT", "STATUS"]
    assert table.out.splitlines()[-1].startswith(f"job {job_id} Finished")
    listed = reelmill(stack, "list", "-o", "json")
    assert listed.code == 0 and any(
        j["JobId"] == job_id for j in json.loads(listed.out)["EditingBatchJobList"]
    )
