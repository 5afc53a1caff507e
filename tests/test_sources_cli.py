"""`newsbot sources ...` against a real database file."""

from __future__ import annotations

import pytest

from bot.cli import main


@pytest.fixture(autouse=True)
def _database(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["sources", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_add_list_export_remove(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "list")[1].strip() == "no sources"
    assert run(capsys, "add", "https://feeds.example/rss", "--title", "Example")[1].startswith(
        "added"
    )
    assert "already polled" in run(capsys, "add", "https://feeds.example/rss")[1]
    listing = run(capsys, "list")[1]
    assert "https://feeds.example/rss" in listing and "not polled yet" in listing
    exported = run(capsys, "export")[1]
    assert 'xmlUrl="https://feeds.example/rss"' in exported
    assert run(capsys, "remove", "https://feeds.example/rss")[1].startswith("removed")
    assert "xmlUrl" not in run(capsys, "export")[1]


def test_import_an_opml_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline text="A" xmlUrl="https://a.example/rss"/>'
        '<outline text="B" xmlUrl="https://b.example/rss"/></body></opml>'
    )
    assert "imported 2 new of 2" in run(capsys, "import", str(opml))[1]
    assert "imported 0 new of 2" in run(capsys, "import", str(opml))[1]


def test_bad_input_is_a_plain_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "add", "ftp://x.example/feed")
    assert code == 2 and "http" in err and "Traceback" not in err
    code, _out, err = run(capsys, "import", str(tmp_path / "missing.opml"))
    assert code == 2 and "cannot import" in err
