"""Env: typed reads of environment variables whose errors name the variable."""

from __future__ import annotations

import pytest

from jamjet_common.config import DEFAULT_NATS_URL, CommonConfig, ConfigError, Env
from jamjet_common.streams import DAY, StreamLimits


def test_text_reads_and_strips_and_defaults() -> None:
    env = Env({"A": "  value ", "BLANK": "   "})
    assert env.text("A", "d") == "value"
    assert env.text("BLANK", "d") == "d"
    assert env.text("MISSING", "d") == "d"


def test_integer_reads_and_defaults() -> None:
    env = Env({"N": " 42 ", "EMPTY": ""})
    assert env.integer("N", 1) == 42
    assert env.integer("EMPTY", 7) == 7
    assert env.integer("MISSING", 7) == 7


def test_integer_error_names_the_variable_and_value() -> None:
    with pytest.raises(ConfigError) as caught:
        Env({"JAMJET_X": "abc"}).integer("JAMJET_X", 1)
    assert str(caught.value) == "JAMJET_X='abc' is not an integer"
    assert caught.value.code == "config_error"


def test_integer_refuses_a_fraction() -> None:
    with pytest.raises(ConfigError, match=r"^JAMJET_X='1\.5' is not an integer$"):
        Env({"JAMJET_X": "1.5"}).integer("JAMJET_X", 1)


def test_integer_minimum_is_enforced_and_named() -> None:
    with pytest.raises(ConfigError, match=r"^JAMJET_X=0 must be at least 1$"):
        Env({"JAMJET_X": "0"}).integer("JAMJET_X", 5, minimum=1)
    with pytest.raises(ConfigError, match=r"^JAMJET_Y=-1 must be at least 0$"):
        Env({"JAMJET_Y": "-1"}).integer("JAMJET_Y", 5)
    assert Env({"JAMJET_X": "-1"}).integer("JAMJET_X", 5, minimum=-1) == -1


def test_number_reads_and_errors_name_the_variable() -> None:
    env = Env({"F": "2.5", "BAD": "fast", "LOW": "0.5"})
    assert env.number("F", 1.0) == 2.5
    assert env.number("MISSING", 1.5) == 1.5
    with pytest.raises(ConfigError, match=r"^BAD='fast' is not a number$"):
        env.number("BAD", 1.0)
    with pytest.raises(ConfigError, match=r"^LOW=0\.5 must be at least 1\.0$"):
        env.number("LOW", 2.0, minimum=1.0)


def test_items_splits_on_commas_and_drops_blanks() -> None:
    env = Env({"Q": " model, tool ,,python_tool, ", "NONE": " "})
    assert env.items("Q", ()) == ("model", "tool", "python_tool")
    assert env.items("NONE", ("general",)) == ("general",)
    assert env.items("MISSING", ("a", "b")) == ("a", "b")


def test_env_reads_the_process_environment_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAMJET_CONTRACT_TEST", "17")
    assert Env().integer("JAMJET_CONTRACT_TEST", 0) == 17


def test_common_config_defaults() -> None:
    config = CommonConfig.from_env(Env({}), "scheduler")
    assert config.nats_url == DEFAULT_NATS_URL == "nats://127.0.0.1:4222"
    assert config.instance_id.startswith("scheduler-")
    assert config.shutdown_grace_secs == 30.0
    assert config.log_level == "INFO"
    assert config.max_message_bytes == 512 * 1024
    assert config.health_file == ""


def test_common_config_reads_its_variables() -> None:
    config = CommonConfig.from_env(
        Env(
            {
                "NATS_URL": "nats://127.0.0.1:4333",
                "JAMJET_INSTANCE_ID": "w-1",
                "JAMJET_SHUTDOWN_GRACE_SECS": "2.5",
                "JAMJET_LOG_LEVEL": "debug",
                "JAMJET_MAX_MESSAGE_BYTES": "2048",
            }
        ),
        "worker",
    )
    assert (config.nats_url, config.instance_id, config.shutdown_grace_secs) == (
        "nats://127.0.0.1:4333",
        "w-1",
        2.5,
    )
    assert (config.log_level, config.max_message_bytes) == ("DEBUG", 2048)


def test_common_config_refuses_a_tiny_message_limit() -> None:
    with pytest.raises(ConfigError, match=r"^JAMJET_MAX_MESSAGE_BYTES=10 must be at least 1024$"):
        CommonConfig.from_env(Env({"JAMJET_MAX_MESSAGE_BYTES": "10"}), "worker")


def test_provision_streams_is_a_flag_whose_error_names_the_variable() -> None:
    assert CommonConfig.from_env(Env({}), "worker").provision_streams is True
    assert (
        CommonConfig.from_env(Env({"JAMJET_PROVISION_STREAMS": "off"}), "worker").provision_streams is False
    )
    with pytest.raises(ConfigError, match=r"^JAMJET_PROVISION_STREAMS='maybe' is not one of"):
        CommonConfig.from_env(Env({"JAMJET_PROVISION_STREAMS": "maybe"}), "worker")


def test_stream_limits_convert_days_to_seconds() -> None:
    limits = StreamLimits.from_env(Env({"JAMJET_EVENTS_MAX_AGE_DAYS": "0.5", "JAMJET_STREAM_REPLICAS": "3"}))
    assert limits.events_max_age_secs == 0.5 * DAY
    assert limits.replicas == 3
    assert limits.work_max_age_secs == 7 * DAY
    assert limits.events_max_bytes == -1


def test_stream_limits_refuse_zero_replicas() -> None:
    with pytest.raises(ConfigError, match="JAMJET_STREAM_REPLICAS=0 must be at least 1"):
        StreamLimits.from_env(Env({"JAMJET_STREAM_REPLICAS": "0"}))


def test_max_command_attempts_is_one_setting_with_the_policy_services_old_name_as_fallback() -> None:
    def attempts(**environ: str) -> int:
        return CommonConfig.from_env(Env(environ), "x").max_command_attempts

    assert attempts() == 5
    assert attempts(JAMJET_MAX_COMMAND_ATTEMPTS="3") == 3
    assert attempts(JAMJET_POLICY_CMD_MAX_ATTEMPTS="7") == 7
    assert attempts(JAMJET_MAX_COMMAND_ATTEMPTS="2", JAMJET_POLICY_CMD_MAX_ATTEMPTS="7") == 2
    with pytest.raises(ConfigError, match="JAMJET_MAX_COMMAND_ATTEMPTS=0 must be at least 1"):
        attempts(JAMJET_MAX_COMMAND_ATTEMPTS="0")
