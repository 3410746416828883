"""Tests for kalshikit.config: defaults, parsing of every variable, error reporting, ``.env`` files, environments,
hosts, credentials and secret hygiene.

Every test passes an explicit ``environ`` dict and an ``env_file`` under ``tmp_path`` so the machine's real
environment and any real ``.env`` never leak in. Expected hosts come from Kalshi's documented URLs (protocol notes
§1), not from the module's own table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kalshikit.config import ENV_VARS, SecretStr, Settings, env_urls, mask_key_id, read_env_file
from kalshikit.errors import ConfigError, KalshiKitError

KEY_ID = "a952bcbe-1234-4cde-9f01-23456789abcd"
ODDS_KEY = "odds-secret-5f3c2a9e7b"

PROD_CURRENT = ("https://external-api.kalshi.com/trade-api/v2", "wss://external-api-ws.kalshi.com/trade-api/ws/v2")
PROD_LEGACY = ("https://api.elections.kalshi.com/trade-api/v2", "wss://api.elections.kalshi.com/trade-api/ws/v2")
DEMO_CURRENT = (
    "https://external-api.demo.kalshi.co/trade-api/v2",
    "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2",
)
DEMO_LEGACY = ("https://demo-api.kalshi.co/trade-api/v2", "wss://demo-api.kalshi.co/trade-api/ws/v2")


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key_file(tmp_path: Path, pem: str) -> Path:
    path = tmp_path / "kalshi.key"
    path.write_text(pem)
    path.chmod(0o600)
    return path


def load(tmp_path: Path, environ: Mapping[str, str] | None = None, env_text: str | None = None, **kw: Any) -> Settings:
    """Settings from an explicit environ and a ``.env`` under ``tmp_path`` (absent unless ``env_text`` is given)."""
    env_file = tmp_path / "test.env"
    if env_text is not None:
        env_file.write_text(env_text, encoding="utf-8")
    return Settings.from_env(environ=dict(environ or {}), env_file=env_file, **kw)


def config_error(tmp_path: Path, environ: Mapping[str, str], env_text: str | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, environ, env_text)
    return str(info.value)


def pem_body_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


# ---------------------------------------------------------------------------- defaults
DEFAULTS: list[tuple[str, Any]] = [
    ("strategy_loop_interval", 30),
    ("stop_loss_check_interval", 2),
    ("ui_update_interval", 1),
    ("reconcile_interval", 10),
    ("websocket_enabled", True),
    ("websocket_reconnect_delay", 5),
    ("websocket_max_reconnect_delay", 60),
    ("websocket_price_cache_stale_secs", 60),
    ("verbose", False),
    ("env", "sim"),
    ("use_legacy_hosts", False),
    ("api_key_id", None),
    ("private_key_path", None),
    ("private_key_pem", None),
    ("odds_api_key", None),
    ("stale_policy", "confirm"),
    ("exit_max_attempts", 5),
    ("exit_max_slippage", None),
    ("log_level", "INFO"),
    ("odds_api_url", "https://api.the-odds-api.com/v4"),
]


@pytest.mark.parametrize(("field", "expected"), DEFAULTS)
def test_defaults_with_an_empty_environment(tmp_path: Path, field: str, expected: Any) -> None:
    s = load(tmp_path)
    value = getattr(s, field)
    assert value == expected
    assert type(value) is type(expected) or (isinstance(expected, int) and isinstance(value, float))


def test_default_data_dir_and_sim_has_no_hosts(tmp_path: Path) -> None:
    s = load(tmp_path)
    assert s.data_dir == Path.home() / ".kalshikit"
    assert (s.rest_url, s.ws_url) == ("", "")
    assert not s.has_credentials
    assert not s.is_production


def test_every_field_has_an_environment_variable() -> None:
    assert set(ENV_VARS) == {f.name for f in dataclasses.fields(Settings)}
    assert len(set(ENV_VARS.values())) == len(ENV_VARS)


# ---------------------------------------------------------------------------- every variable parsed
PARSED: list[tuple[str, str, str, Any]] = [
    ("STRATEGY_LOOP_INTERVAL", "45", "strategy_loop_interval", 45.0),
    ("STOP_LOSS_CHECK_INTERVAL", "0.5", "stop_loss_check_interval", 0.5),
    ("UI_UPDATE_INTERVAL", "2.25", "ui_update_interval", 2.25),
    ("RECONCILE_INTERVAL", "120", "reconcile_interval", 120.0),
    ("WEBSOCKET_ENABLED", "false", "websocket_enabled", False),
    ("WEBSOCKET_RECONNECT_DELAY", "1", "websocket_reconnect_delay", 1.0),
    ("WEBSOCKET_MAX_RECONNECT_DELAY", "300", "websocket_max_reconnect_delay", 300.0),
    ("WEBSOCKET_PRICE_CACHE_STALE_SECS", "15", "websocket_price_cache_stale_secs", 15.0),
    ("WEBSOCKET_SILENCE_SECS", "12.5", "websocket_silence_secs", 12.5),
    ("VERBOSE", "true", "verbose", True),
    ("KALSHI_ENV", "SIM", "env", "sim"),
    ("KALSHI_USE_LEGACY_HOSTS", "yes", "use_legacy_hosts", True),
    ("STALE_PRICE_POLICY", "HOLD", "stale_policy", "hold"),
    ("STALE_PRICE_POLICY", "fire", "stale_policy", "fire"),
    ("EXIT_MAX_ATTEMPTS", "3", "exit_max_attempts", 3),
    ("EXIT_MAX_SLIPPAGE", "0.05", "exit_max_slippage", 0.05),
    ("EXIT_MAX_SLIPPAGE", "1", "exit_max_slippage", 1.0),
    ("KALSHI_HTTP_TIMEOUT", "2.5", "http_timeout", 2.5),
    ("KALSHI_READS_PER_SECOND", "5", "reads_per_second", 5.0),
    ("KALSHI_WRITES_PER_SECOND", "2", "writes_per_second", 2.0),
    ("ODDS_API_URL", "https://odds.example.test/v4/", "odds_api_url", "https://odds.example.test/v4"),
    ("LOG_LEVEL", "warning", "log_level", "WARNING"),
    ("LOG_LEVEL", "Debug", "log_level", "DEBUG"),
    ("KALSHI_REST_URL", "http://127.0.0.1:8080/trade-api/v2/", "rest_url", "http://127.0.0.1:8080/trade-api/v2"),
    ("KALSHI_WS_URL", "ws://127.0.0.1:8080/trade-api/ws/v2", "ws_url", "ws://127.0.0.1:8080/trade-api/ws/v2"),
    ("STOP_LOSS_CHECK_INTERVAL", "  3  ", "stop_loss_check_interval", 3.0),  # surrounding blanks ignored
]


@pytest.mark.parametrize(("var", "raw", "field", "expected"), PARSED)
def test_each_variable_is_parsed(tmp_path: Path, var: str, raw: str, field: str, expected: Any) -> None:
    s = load(tmp_path, {var: raw})
    assert getattr(s, field) == expected
    assert ENV_VARS[field] == var


def test_parsed_table_and_credential_tests_cover_every_variable() -> None:
    covered = {var for var, *_ in PARSED} | {
        "KALSHI_API_KEY_ID",
        "KALSHI_PRIVATE_KEY_PATH",
        "KALSHI_PRIVATE_KEY",
        "ODDS_API_KEY",
        "KALSHIKIT_DATA_DIR",
    }
    assert covered == set(ENV_VARS.values())


def test_data_dir_and_odds_key(tmp_path: Path) -> None:
    s = load(tmp_path, {"KALSHIKIT_DATA_DIR": str(tmp_path / "data"), "ODDS_API_KEY": ODDS_KEY})
    assert s.data_dir == tmp_path / "data"
    assert isinstance(s.odds_api_key, SecretStr)
    assert s.odds_api_key.reveal() == ODDS_KEY


def test_data_dir_expands_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load(tmp_path, {"KALSHIKIT_DATA_DIR": "~/kit-data"})
    assert s.data_dir == tmp_path / "kit-data"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(t, True) for t in ("1", "true", "TRUE", "True", "yes", "YES", "on", "On")]
    + [(f, False) for f in ("0", "false", "FALSE", "no", "No", "off", "OFF")],
)
def test_boolean_spellings(tmp_path: Path, raw: str, expected: bool) -> None:
    s = load(tmp_path, {"WEBSOCKET_ENABLED": raw, "VERBOSE": raw})
    assert s.websocket_enabled is expected
    assert s.verbose is expected


@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_values_mean_default(tmp_path: Path, blank: str) -> None:
    s = load(tmp_path, {"STOP_LOSS_CHECK_INTERVAL": blank, "WEBSOCKET_ENABLED": blank, "KALSHI_ENV": blank})
    assert s.stop_loss_check_interval == 2.0
    assert s.websocket_enabled is True
    assert s.env == "sim"


# ---------------------------------------------------------------------------- bad values
BAD: list[tuple[str, str, str]] = [
    ("STOP_LOSS_CHECK_INTERVAL", "-1", "> 0"),
    ("STOP_LOSS_CHECK_INTERVAL", "0", "> 0"),
    ("STOP_LOSS_CHECK_INTERVAL", "2s", "seconds"),
    ("STRATEGY_LOOP_INTERVAL", "abc", "seconds"),
    ("UI_UPDATE_INTERVAL", "nan", "seconds"),
    ("RECONCILE_INTERVAL", "inf", "seconds"),
    ("WEBSOCKET_RECONNECT_DELAY", "-5", "> 0"),
    ("WEBSOCKET_MAX_RECONNECT_DELAY", "sixty", "seconds"),
    ("WEBSOCKET_PRICE_CACHE_STALE_SECS", "-0.1", "> 0"),
    ("WEBSOCKET_SILENCE_SECS", "0", "> 0"),
    ("KALSHI_HTTP_TIMEOUT", "0", "> 0"),
    ("KALSHI_READS_PER_SECOND", "fast", "> 0"),
    ("KALSHI_WRITES_PER_SECOND", "-2", "> 0"),
    ("WEBSOCKET_ENABLED", "maybe", "true/false"),
    ("VERBOSE", "2", "true/false"),
    ("KALSHI_USE_LEGACY_HOSTS", "sometimes", "true/false"),
    ("KALSHI_ENV", "staging", "sim | demo | prod"),
    ("KALSHI_ENV", "production", "sim | demo | prod"),
    ("STALE_PRICE_POLICY", "ignore", "hold | confirm | fire"),
    ("EXIT_MAX_ATTEMPTS", "0", ">= 1"),
    ("EXIT_MAX_ATTEMPTS", "2.5", ">= 1"),
    ("EXIT_MAX_SLIPPAGE", "1.5", "(0, 1]"),
    ("EXIT_MAX_SLIPPAGE", "0", "(0, 1]"),
    ("EXIT_MAX_SLIPPAGE", "-0.05", "(0, 1]"),
    ("KALSHI_REST_URL", "not a url", "http"),
    ("KALSHI_WS_URL", "127.0.0.1:8080", "ws"),
    ("ODDS_API_URL", "odds", "http"),
    ("LOG_LEVEL", "loud", "debug | info | warning | error"),
]


@pytest.mark.parametrize(("var", "raw", "allowed"), BAD)
def test_bad_value_names_variable_value_and_what_is_allowed(tmp_path: Path, var: str, raw: str, allowed: str) -> None:
    msg = config_error(tmp_path, {var: raw})
    assert f"{var}=" in msg
    assert repr(raw) in msg
    assert allowed in msg


def test_bad_value_in_env_file_is_reported_too(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {}, "WEBSOCKET_ENABLED=maybe\n")
    assert "WEBSOCKET_ENABLED=" in msg and "maybe" in msg and "true/false" in msg


def test_several_bad_values_are_reported_together(tmp_path: Path) -> None:
    msg = config_error(
        tmp_path,
        {
            "STOP_LOSS_CHECK_INTERVAL": "-1",
            "WEBSOCKET_ENABLED": "maybe",
            "KALSHI_ENV": "staging",
            "EXIT_MAX_ATTEMPTS": "zero",
        },
    )
    for fragment in ("STOP_LOSS_CHECK_INTERVAL", "'-1'", "WEBSOCKET_ENABLED", "'maybe'", "KALSHI_ENV", "'staging'"):
        assert fragment in msg
    assert "EXIT_MAX_ATTEMPTS" in msg
    assert msg.count("\n  - ") == 4


def test_max_reconnect_delay_below_start_delay_is_rejected(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"WEBSOCKET_RECONNECT_DELAY": "10", "WEBSOCKET_MAX_RECONNECT_DELAY": "5"})
    assert "WEBSOCKET_MAX_RECONNECT_DELAY" in msg and "WEBSOCKET_RECONNECT_DELAY" in msg


def test_config_error_is_a_user_facing_value_error() -> None:
    assert issubclass(ConfigError, KalshiKitError) and issubclass(ConfigError, ValueError)
    assert ConfigError.who_acts == "user"


def test_keyword_overrides_win_and_are_validated(tmp_path: Path) -> None:
    environ = {"STOP_LOSS_CHECK_INTERVAL": "5", "VERBOSE": "false"}
    s = load(tmp_path, environ, stop_loss_check_interval=0.25, verbose=True)
    assert s.stop_loss_check_interval == 0.25
    assert s.verbose is True
    with pytest.raises(ConfigError, match="STOP_LOSS_CHECK_INTERVAL"):
        load(tmp_path, {}, stop_loss_check_interval=-1)
    with pytest.raises(ConfigError, match="unknown setting"):
        load(tmp_path, {}, stop_loss=1)


# ---------------------------------------------------------------------------- .env files
def test_env_file_syntax(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "# a comment line",
            "",
            "   # an indented comment",
            "STRATEGY_LOOP_INTERVAL=45",
            "export STOP_LOSS_CHECK_INTERVAL=3",
            'UI_UPDATE_INTERVAL="4"',
            "RECONCILE_INTERVAL='12'",
            "VERBOSE=yes # trailing comment",
            'KALSHI_ENV="sim"   # comment after a quoted value',
            "STALE_PRICE_POLICY = hold",
            'ODDS_API_KEY="abc#def"',
            "ODDS_API_URL=https://odds.example.test/v4#frag",
            "",
        ]
    )
    s = load(tmp_path, {}, text)
    assert s.strategy_loop_interval == 45
    assert s.stop_loss_check_interval == 3
    assert s.ui_update_interval == 4
    assert s.reconcile_interval == 12
    assert s.verbose is True
    assert s.env == "sim"
    assert s.stale_policy == "hold"
    assert s.odds_api_key is not None and s.odds_api_key.reveal() == "abc#def"
    assert s.odds_api_url == "https://odds.example.test/v4#frag"


def test_read_env_file_quotes(tmp_path: Path) -> None:
    path = tmp_path / "q.env"
    path.write_text('A="line1\\nline2"\nB=\'kept\\nliteral\'\nC=""\nD="  padded  "\nE=plain value\n', encoding="utf-8")
    assert read_env_file(path) == {
        "A": "line1\nline2",
        "B": "kept\\nliteral",
        "C": "",
        "D": "  padded  ",
        "E": "plain value",
    }


@pytest.mark.parametrize("quote", ['"', "'"])
def test_env_file_multi_line_pem(tmp_path: Path, pem: str, quote: str) -> None:
    text = f"KALSHI_API_KEY_ID={KEY_ID}\nKALSHI_PRIVATE_KEY={quote}{pem.strip()}{quote}\nVERBOSE=1\n"
    s = load(tmp_path, {}, text)
    assert s.private_key_pem is not None
    assert s.private_key_pem.reveal() == pem.strip()
    assert s.verbose is True  # parsing resumed after the multi-line value
    assert s.env == "demo"


def test_env_file_single_line_pem_with_escaped_newlines(tmp_path: Path, pem: str) -> None:
    escaped = pem.strip().replace("\n", "\\n")
    s = load(tmp_path, {}, f'KALSHI_API_KEY_ID={KEY_ID}\nKALSHI_PRIVATE_KEY="{escaped}"\n')
    assert s.private_key_pem is not None and s.private_key_pem.reveal() == pem.strip()


def test_environment_variables_win_over_the_file(tmp_path: Path) -> None:
    s = load(tmp_path, {"STOP_LOSS_CHECK_INTERVAL": "7"}, "STOP_LOSS_CHECK_INTERVAL=3\nUI_UPDATE_INTERVAL=9\n")
    assert s.stop_loss_check_interval == 7
    assert s.ui_update_interval == 9


def test_missing_env_file_is_ignored(tmp_path: Path) -> None:
    s = Settings.from_env(environ={}, env_file=tmp_path / "does-not-exist.env")
    assert s.env == "sim"


def test_default_env_file_is_dot_env_in_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("RECONCILE_INTERVAL=33\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env(environ={}).reconcile_interval == 33
    assert Settings.from_env(environ={}, env_file=None).reconcile_interval == 10


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("JUST_A_WORD\n", ":1:"),
        ("VERBOSE=1\nnot valid line\n", ":2:"),
        ("BAD-KEY=1\n", ":1:"),
        ('KALSHI_PRIVATE_KEY="-----BEGIN PRIVATE KEY-----\nabc\n', "unterminated"),
        ('VERBOSE=1\nKALSHI_ENV="demo"oops\n', ":2:"),
    ],
)
def test_env_file_syntax_errors_name_the_file(tmp_path: Path, text: str, fragment: str) -> None:
    msg = config_error(tmp_path, {}, text)
    assert "test.env" in msg
    assert fragment in msg


# ---------------------------------------------------------------------------- environments and hosts
@pytest.mark.parametrize(
    ("extra", "env", "hosts"),
    [
        ({}, "demo", DEMO_CURRENT),
        ({"KALSHI_ENV": "demo"}, "demo", DEMO_CURRENT),
        ({"KALSHI_ENV": "prod"}, "prod", PROD_CURRENT),
        ({"KALSHI_ENV": "PROD"}, "prod", PROD_CURRENT),
        ({"KALSHI_USE_LEGACY_HOSTS": "true"}, "demo", DEMO_LEGACY),
        ({"KALSHI_ENV": "prod", "KALSHI_USE_LEGACY_HOSTS": "1"}, "prod", PROD_LEGACY),
        ({"KALSHI_ENV": "sim"}, "sim", ("", "")),
    ],
)
def test_environment_defaults_with_credentials(
    tmp_path: Path, pem: str, extra: dict[str, str], env: str, hosts: tuple[str, str]
) -> None:
    s = load(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY": pem, **extra})
    assert s.env == env
    assert (s.rest_url, s.ws_url) == hosts
    assert s.is_production is (env == "prod")
    assert s.has_credentials


def test_key_file_credentials_default_to_demo(tmp_path: Path, key_file: Path) -> None:
    s = load(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_PATH": str(key_file)})
    assert s.env == "demo"
    assert s.private_key_path == key_file
    assert s.private_key_pem is None
    assert s.has_credentials
    assert (s.rest_url, s.ws_url) == DEMO_CURRENT


def test_without_credentials_the_default_is_the_simulator(tmp_path: Path) -> None:
    s = load(tmp_path, {"KALSHI_USE_LEGACY_HOSTS": "true"})
    assert s.env == "sim"
    assert (s.rest_url, s.ws_url) == ("", "")


def test_prod_is_never_a_default(tmp_path: Path, pem: str) -> None:
    assert load(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY": pem}).env != "prod"


@pytest.mark.parametrize("env", ["demo", "prod"])
def test_exchange_environments_need_credentials(tmp_path: Path, env: str) -> None:
    msg = config_error(tmp_path, {"KALSHI_ENV": env})
    assert f"KALSHI_ENV={env}" in msg
    assert "KALSHI_API_KEY_ID" in msg


def test_env_urls_match_kalshi_documentation() -> None:
    assert env_urls("prod") == PROD_CURRENT
    assert env_urls("prod", legacy=True) == PROD_LEGACY
    assert env_urls("demo") == DEMO_CURRENT
    assert env_urls("demo", legacy=True) == DEMO_LEGACY
    with pytest.raises(ConfigError, match="sim"):
        env_urls("sim")


def test_url_overrides_win_over_environment_hosts(tmp_path: Path, pem: str) -> None:
    s = load(
        tmp_path,
        {
            "KALSHI_API_KEY_ID": KEY_ID,
            "KALSHI_PRIVATE_KEY": pem,
            "KALSHI_ENV": "demo",
            "KALSHI_REST_URL": "http://127.0.0.1:9000/trade-api/v2/",
        },
    )
    assert s.rest_url == "http://127.0.0.1:9000/trade-api/v2"
    assert s.ws_url == DEMO_CURRENT[1]


def test_url_overrides_on_the_simulator(tmp_path: Path) -> None:
    s = load(
        tmp_path,
        {
            "KALSHI_REST_URL": "http://127.0.0.1:9000/trade-api/v2",
            "KALSHI_WS_URL": "ws://127.0.0.1:9000/trade-api/ws/v2",
        },
    )
    assert s.env == "sim"
    assert s.rest_url == "http://127.0.0.1:9000/trade-api/v2"
    assert s.ws_url == "ws://127.0.0.1:9000/trade-api/ws/v2"
    assert "127.0.0.1:9000" in s.describe()


@pytest.mark.parametrize(
    ("var", "url"),
    [("KALSHI_REST_URL", "ws://127.0.0.1:9000/trade-api/v2"), ("KALSHI_WS_URL", "https://127.0.0.1/trade-api/ws/v2")],
)
def test_url_with_the_wrong_scheme(tmp_path: Path, var: str, url: str) -> None:
    msg = config_error(tmp_path, {var: url})
    assert var in msg and url in msg


# ---------------------------------------------------------------------------- credentials
def test_missing_key_file_names_the_variable_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "kalshi.key"
    msg = config_error(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_PATH": str(missing)})
    assert "KALSHI_PRIVATE_KEY_PATH" in msg
    assert str(missing) in msg


def test_key_path_that_is_a_directory(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_PATH": str(tmp_path)})
    assert "KALSHI_PRIVATE_KEY_PATH" in msg and "not a file" in msg


def test_key_path_expands_user(tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = load(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_PATH": f"~/{key_file.name}"})
    assert s.private_key_path == key_file


def test_private_key_without_key_id(tmp_path: Path, pem: str) -> None:
    msg = config_error(tmp_path, {"KALSHI_PRIVATE_KEY": pem})
    assert "KALSHI_API_KEY_ID" in msg


def test_private_key_text_that_is_not_pem(tmp_path: Path) -> None:
    msg = config_error(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY": "hunter2-not-a-key"})
    assert "KALSHI_PRIVATE_KEY" in msg
    assert "hunter2" not in msg


def test_pem_pasted_into_the_path_variable_is_not_echoed(tmp_path: Path, pem: str) -> None:
    msg = config_error(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY_PATH": pem})
    assert "KALSHI_PRIVATE_KEY_PATH" in msg
    for line in pem_body_lines(pem):
        assert line not in msg


# ---------------------------------------------------------------------------- secrets
def test_secrets_never_in_repr_str_or_describe(tmp_path: Path, pem: str) -> None:
    s = load(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY": pem, "ODDS_API_KEY": ODDS_KEY})
    assert s.private_key_pem is not None and s.private_key_pem.reveal() == pem.strip()
    assert s.api_key_id == KEY_ID
    for text in (repr(s), str(s), s.describe(), repr(s.private_key_pem), str(s.odds_api_key)):
        assert KEY_ID not in text
        assert ODDS_KEY not in text
        assert "PRIVATE KEY" not in text
        for line in pem_body_lines(pem):
            assert line not in text
    assert "a952bcbe…" in s.describe()
    assert s.masked_key_id == "a952bcbe…"


def test_errors_next_to_secrets_do_not_contain_them(tmp_path: Path, pem: str) -> None:
    msg = config_error(
        tmp_path,
        {
            "KALSHI_API_KEY_ID": KEY_ID,
            "KALSHI_PRIVATE_KEY": pem,
            "ODDS_API_KEY": ODDS_KEY,
            "STOP_LOSS_CHECK_INTERVAL": "-1",
            "KALSHI_ENV": "staging",
        },
    )
    assert KEY_ID not in msg and ODDS_KEY not in msg
    for line in pem_body_lines(pem):
        assert line not in msg


@pytest.mark.parametrize(
    ("key_id", "masked"),
    [
        (KEY_ID, "a952bcbe…"),
        ("123456789", "12345678…"),
        ("12345678", "12…"),
        ("abc", "ab…"),
        ("", "<none>"),
        (None, "<none>"),
    ],
)
def test_mask_key_id(key_id: str | None, masked: str) -> None:
    assert mask_key_id(key_id) == masked
    if key_id:
        assert mask_key_id(key_id) != key_id


def test_secret_str() -> None:
    a = SecretStr("s3cr3t")
    assert a.reveal() == "s3cr3t"
    assert "s3cr3t" not in repr(a) and "s3cr3t" not in str(a) and "s3cr3t" not in f"{a}"
    assert a == SecretStr("s3cr3t") and a != SecretStr("other") and a != "s3cr3t"
    assert hash(a) == hash(SecretStr("s3cr3t"))


# ---------------------------------------------------------------------------- frozen and replace
def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.env = "prod"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.stop_loss_check_interval = 1.0  # type: ignore[misc]


def test_replace_returns_a_new_validated_copy(tmp_path: Path) -> None:
    s = load(tmp_path)
    t = s.replace(stop_loss_check_interval=0.5, verbose=True)
    assert (t.stop_loss_check_interval, t.verbose) == (0.5, True)
    assert (s.stop_loss_check_interval, s.verbose) == (2.0, False)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"websocket_max_reconnect_delay": 1.0}, "WEBSOCKET_MAX_RECONNECT_DELAY"),
        ({"env": "prod"}, "KALSHI_ENV=prod"),
        ({"env": "demo"}, "KALSHI_ENV=demo"),
        ({"rest_url": "ftp://example.test/trade-api/v2"}, "KALSHI_REST_URL"),
        ({"ws_url": "http://example.test/trade-api/ws/v2"}, "KALSHI_WS_URL"),
        ({"stop_loss_check_interval": -1.0}, "STOP_LOSS_CHECK_INTERVAL"),
        ({"strategy_loop_interval": 0.0}, "STRATEGY_LOOP_INTERVAL"),
        ({"websocket_price_cache_stale_secs": float("nan")}, "WEBSOCKET_PRICE_CACHE_STALE_SECS"),
        ({"stale_policy": "ignore"}, "STALE_PRICE_POLICY"),
        ({"env": "staging"}, "KALSHI_ENV"),
        ({"exit_max_attempts": 0}, "EXIT_MAX_ATTEMPTS"),
        ({"exit_max_slippage": 2.0}, "EXIT_MAX_SLIPPAGE"),
    ],
)
def test_replace_revalidates(tmp_path: Path, changes: dict[str, Any], fragment: str) -> None:
    s = load(tmp_path)
    with pytest.raises(ConfigError) as info:
        s.replace(**changes)
    assert fragment in str(info.value)


def test_replace_to_demo_with_credentials(tmp_path: Path, pem: str) -> None:
    s = load(tmp_path, {"KALSHI_API_KEY_ID": KEY_ID, "KALSHI_PRIVATE_KEY": pem, "KALSHI_ENV": "sim"})
    assert s.env == "sim"
    assert s.replace(env="demo").env == "demo"
