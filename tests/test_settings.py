"""One settings layer (issue 14): each setting declared once, flags and variables parsed strictly."""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import build_parser, gateway_settings, subcommands, worker_settings
from cli.settings import SETTINGS_OF, ClientSettings
from reelmill import config
from worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.fixture(autouse=True)
def no_reelmill_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REELMILL_"):
            monkeypatch.delenv(name)


def test_a_flag_wins_over_its_variable_which_wins_over_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert worker_settings(parse("worker")).slots == 1
    monkeypatch.setenv("REELMILL_SLOTS", "3")
    assert worker_settings(parse("worker")).slots == 3
    assert worker_settings(parse("worker", "--slots", "4")).slots == 4


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("REELMILL_OPEN", "flase", "REELMILL_OPEN='flase': must be one of true, false"),
        ("REELMILL_NO_MIGRATE", "2", "REELMILL_NO_MIGRATE='2': must be one of"),
        ("REELMILL_MAX_COUNT", "lots", "REELMILL_MAX_COUNT='lots': must be an integer"),
        ("REELMILL_MAX_COUNT", "101", "REELMILL_MAX_COUNT='101': must be at most 100"),
        ("REELMILL_ACK_WAIT_S", "nan", "REELMILL_ACK_WAIT_S='nan': must be a finite number"),
        ("REELMILL_ACK_WAIT_S", "0", "REELMILL_ACK_WAIT_S='0': must be at least 1"),
        ("REELMILL_METRICS_PORT", "-1", "REELMILL_METRICS_PORT='-1': must be at least 0"),
        ("REELMILL_LOG_FORMAT", "yaml", "REELMILL_LOG_FORMAT='yaml': must be one of text, json"),
    ],
)
def test_a_bad_variable_stops_the_gateway_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(config.SettingError, match=says):
        for cls in SETTINGS_OF["gateway"]:
            config.build(cls, parse("gateway"))


def test_a_bad_flag_is_named_as_the_flag() -> None:
    with pytest.raises(config.SettingError, match="--slots='0': must be at least 1"):
        worker_settings(parse("worker", "--slots", "0"))


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("YES", True), ("1", True), ("No", False),
                                                 ("0", False), ("", False), ("false", False)])  # fmt: skip
def test_booleans_accept_the_six_words_in_any_case(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("REELMILL_OPEN", value)
    assert gateway_settings(parse("gateway")).open is expected
    assert gateway_settings(parse("gateway", "--open")).open is True


def test_paths_default_under_the_data_dir(tmp_path: Path) -> None:
    gw = gateway_settings(parse("gateway", "--data-dir", str(tmp_path), "--media-roots", "a:b"))
    assert gw.database_url == f"sqlite:///{tmp_path / 'reelmill.db'}"
    assert gw.output_dir == str(tmp_path / "outputs")
    assert gw.media_roots == (os.path.abspath("a"), os.path.abspath("b"))
    wk = worker_settings(parse("worker", "--data-dir", str(tmp_path)))
    assert (wk.output_dir, wk.cache_dir) == (str(tmp_path / "outputs"), str(tmp_path / "cache"))


def test_secrets_come_only_from_the_environment_and_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELMILL_S3_SECRET_ACCESS_KEY", "s3cr3t")
    assert "--s3-secret-access-key" not in build_parser().format_help()
    with pytest.raises(SystemExit):
        parse("worker", "--s3-secret-access-key", "x")
    settings = worker_settings(parse("worker"))
    assert settings.s3_secret_access_key == "s3cr3t"
    assert "s3cr3t" not in repr(settings)


def test_environment_gives_another_process_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """How `reelmill dev` hands its flags to the parts it starts: the worker's --slots reaches the worker."""
    given = worker_settings(parse("dev", "--slots", "3", "--font-dir", "/a:/b", "--render-timeout", "99"))
    for name, value in config.environment(given).items():
        monkeypatch.setenv(name, value)
    again = worker_settings(parse("worker"))
    assert dataclasses.replace(again, worker_id=given.worker_id) == given
    gw = gateway_settings(parse("gateway", "--open", "--max-count", "7"))
    for name, value in config.environment(gw).items():
        monkeypatch.setenv(name, value)
    assert gateway_settings(parse("gateway")) == gw


def test_every_setting_is_declared_once_and_shared_ones_agree() -> None:
    """One variable, one meaning: two classes that read REELMILL_X declare the very same Setting."""
    seen: dict[str, config.Setting] = {}
    flags: dict[str, str] = {}
    for classes in SETTINGS_OF.values():
        for cls in classes:
            for knob in config.knobs(cls):
                first = seen.setdefault(knob.spec.variable, knob.spec)
                assert first == knob.spec, f"{knob.spec.variable} is declared twice, differently"
                if knob.spec.option:
                    assert flags.setdefault(knob.spec.option, knob.spec.variable) == knob.spec.variable


def test_every_flag_of_a_server_command_is_a_declared_setting() -> None:
    """No flag bypasses the layer: each option of gateway/worker/dev is a setting (or --help)."""
    declared = {
        k.spec.option for classes in SETTINGS_OF.values() for cls in classes for k in config.knobs(cls)
    }
    extra = {"--help", "--example", "--once"}
    for name in ("gateway", "worker", "dev"):
        options = {o for a in subcommands(build_parser())[name]._actions for o in a.option_strings}
        assert {o for o in options if o.startswith("--")} - extra <= declared, name


def test_client_settings_read_tls_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REELMILL_TLS", "on")
    with pytest.raises(config.SettingError, match="REELMILL_TLS='on'"):
        config.build(ClientSettings, parse("get", "j"))


def test_a_bad_setting_ends_the_command_with_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELMILL_")}
    cases = [(["worker"], "REELMILL_SLOTS", "two"), (["get", "x"], "REELMILL_TLS", "maybe"),
             (["gateway"], "REELMILL_OPEN", "flase")]  # fmt: skip
    for argv, variable, value in cases:
        result = subprocess.run([sys.executable, "-m", "cli", *argv],
                                env={**env, variable: value, "REELMILL_DATA_DIR": str(tmp_path)},
                                capture_output=True, text=True, timeout=60, cwd=ROOT)  # fmt: skip
        assert result.returncode != 0
        assert f"{variable}={value!r}" in result.stderr
        assert "Traceback" not in result.stderr


def test_worker_settings_defaults_match_the_programmatic_defaults() -> None:
    """Tests and benches build WorkerSettings() directly: its defaults are the documented ones."""
    parsed = worker_settings(parse("worker"))
    plain = WorkerSettings()
    for knob in config.knobs(WorkerSettings):
        if knob.field not in ("output_dir", "media_roots"):
            assert getattr(parsed, knob.field) == getattr(plain, knob.field), knob.field
