"""Settings read the documented names; logs never carry the token."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from bot import app
from bot.cli import main
from bot.config import ConfigError, load_settings
from bot.logs import setup_logging
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import TelegramEmulator

TOKEN = "123456:SECRET-token-value"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No .env from the checkout and no settings from the developer's shell."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_URL",
        "DATABASE_URL",
        "SOURCES",
        "POLL_INTERVAL",
        "ALLOW_PRIVATE_NETWORKS",
        "HTTP2",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_and_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("POLL_INTERVAL", "1")
    monkeypatch.setenv("ALLOW_PRIVATE_NETWORKS", "true")
    settings = load_settings()
    assert settings.token == TOKEN
    assert settings.telegram_api_url == "http://127.0.0.1:8081"
    assert settings.database_url == "sqlite+aiosqlite:///newsbot.db"
    assert settings.poll_interval == 1
    assert settings.allow_private_networks is True
    assert settings.http2 is False  # aiohttp under httpx unless asked
    monkeypatch.setenv("HTTP2", "true")
    assert load_settings().http2 is True
    assert TOKEN not in repr(settings)


def test_dotenv_in_working_directory_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nPOLL_INTERVAL=42\n")
    settings = load_settings()
    assert (settings.token, settings.poll_interval) == (TOKEN, 42)


def test_missing_token_is_a_plain_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN is not set"):
        _ = load_settings().token
    assert main(["run"]) == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in capsys.readouterr().err


def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLL_INTERVAL", "0")
    with pytest.raises(ConfigError, match="POLL_INTERVAL"):
        load_settings()


def test_token_is_redacted_from_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging([TOKEN])
    log = logging.getLogger("newsbot.test")
    log.info("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    try:
        raise RuntimeError(f"failed calling /bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("boom")
    logging.getLogger("httpx").info("HTTP Request: POST /bot%s/getUpdates", TOKEN)
    err = capsys.readouterr().err
    assert TOKEN not in err
    assert err.count("[REDACTED]") >= 2
    assert "getUpdates" not in err  # httpx's request log is silenced


def test_db_upgrade_needs_no_token(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "x.db").exists()
    assert "up to date" in capsys.readouterr().out


def test_python_dash_m_bot_is_newsbot() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "run" in done.stdout and "db" in done.stdout


def test_unreadable_sources_file_is_a_config_error(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("SOURCES", str(tmp_path / "missing.opml"))
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "SOURCES: cannot read" in err and "Traceback" not in err


def test_a_poll_process_refused_by_telegram_says_why_without_the_token(
    tmp_path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A token revoked while the bot runs: the poll processes it starts log one redacted
    line each time and exit, instead of multiprocessing printing the raw traceback."""
    with TelegramEmulator() as telegram:
        wrong = telegram.token.replace(":", ":revoked")
        settings = load_settings(
            telegram_bot_token=wrong,
            telegram_api_url=telegram.root_url,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        )
        context = multiprocessing.get_context("spawn")
        watched, held = context.Pipe(duplex=False)
        process = context.Process(target=app._poll_process, args=(settings, watched))
        process.start()
        process.join(60)
        held.close()
    assert process.exitcode == 2
    err = capfd.readouterr().err
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in err
    assert wrong.split(":")[1] not in err


async def test_a_poll_process_that_keeps_ending_is_restarted_less_and_less_often(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    with TelegramEmulator() as telegram:
        settings = load_settings(
            telegram_bot_token=telegram.token.replace(":", ":revoked"),
            telegram_api_url=telegram.root_url,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        )
        processes = app.PollProcesses(settings, 1)
        processes.RESTART_AFTER = 0.1
        with caplog.at_level(logging.ERROR, logger="bot.app"):
            processes.start()
            for _ in range(600):
                if sum("starting it again" in r.message for r in caplog.records) >= 3:
                    break
                await asyncio.sleep(0.1)
            await processes.stop()
    waits = [r.args[2] for r in caplog.records if "starting it again" in r.message][:3]
    assert waits == [0.1, 0.2, 0.4]
    assert all(r.args[1] == 2 for r in caplog.records if "starting it again" in r.message)


def test_newsbot_poll_polls_beside_the_bot_and_stops_on_sigterm(tmp_path) -> None:
    """`newsbot poll` as an operator starts it: its own process, the bot's settings."""
    with TelegramEmulator() as telegram, FeedServer() as feeds:
        feeds.set_feed("/wire.xml", rss([{"title": "A", "link": "https://a.example/1"}]))
        opml = tmp_path / "feeds.opml"
        opml.write_text(
            f'<opml version="2.0"><body><outline xmlUrl="{feeds.url("/wire.xml")}"/></body></opml>'
        )
        database = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.root_url,
            "DATABASE_URL": database,
        }
        subprocess.run(
            [sys.executable, "-m", "bot", "sources", "import", str(opml)],
            env=env,
            cwd=tmp_path,
            check=True,
            capture_output=True,
            timeout=60,
        )
        poller = subprocess.Popen(
            [sys.executable, "-m", "bot", "poll"],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not feeds.request_count("/wire.xml") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert feeds.request_count("/wire.xml") == 1
        finally:
            poller.send_signal(signal.SIGTERM)
            _, err = poller.communicate(timeout=15)
    assert poller.returncode == 0, err
    assert "polling sqlite" in err and "beside the bot" in err
    assert telegram.token.split(":")[1] not in err
