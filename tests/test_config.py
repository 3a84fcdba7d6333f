"""Config loading: every mistake named by file and key path, all reported together."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon import config
from daemon.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """
[company]
name = "Brightstar"
[[mailbox]]
name = "local"
kind = "maildir"
path = "inbox"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inquiryd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path, environ=environ or {})
    return info.value.problems


def test_example_config_is_valid_with_its_passwords_set() -> None:
    env = {"INQUIRYD_SALES_PASSWORD": "s3cret", "INQUIRYD_SMTP_PASSWORD": "smtp-pw"}
    settings = config.load(ROOT / "inquiryd.example.toml", environ=env)
    assert settings.company.name.startswith("Yiwu Brightstar")
    assert settings.secret(settings.mailbox[0]) == "s3cret"
    assert settings.secret(settings.smtp) == "smtp-pw"
    assert settings.schedule.polls == ("08:30", "12:30", "17:30")
    assert settings.review_path == ROOT / "state" / "review"


def test_minimal_config_gets_defaults_and_resolves_paths(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path, MINIMAL), environ={})
    assert settings.mailbox[0].path == tmp_path / "inbox"
    assert settings.paths.state == tmp_path / "state"
    assert settings.database_url == f"sqlite:///{tmp_path / 'state' / 'inquiryd.db'}"
    assert settings.schedule.timezone == "Asia/Shanghai"
    assert settings.sending.per_minute == 30


IMAP = """
[[mailbox]]
name = "sales"
host = "imap.example.com"
username = "sales@example.com"
"""

# (what is planted, the key path named, words of the message)
MISTAKES = [
    ('[company]\nname = "X"\nfounded = "long ago"\n' + MINIMAL.split("[company]")[0]
     + MINIMAL.split('name = "Brightstar"')[1], "company.founded", "integer"),
    (MINIMAL + "[smtp]\nhots = \"x\"\n", "smtp.hots", "unknown key"),
    (MINIMAL + "[schedule]\ntimezone = \"Mars/Olympus\"\n", "schedule.timezone", "unknown time zone"),
    (MINIMAL + "[schedule]\npolls = [\"25:00\"]\n", "schedule.polls[0]", "neither HH:MM"),
    (MINIMAL + "[schedule]\nfollowups = \"61 * * * *\"\n", "schedule.followups", "crontab"),
    (MINIMAL + "[sending]\nper_minute = 0\n", "sending.per_minute", "greater than or equal to 1"),
    (MINIMAL + "[database]\nurl = \"mysql://x\"\n", "database.url", "postgresql"),
    ('[[mailbox]]\nname = "x"\nkind = "maildir"\npath = "p"\n', "company", "required"),
    ('[company]\nname = "X"\n', "mailbox", "required"),
    ('[company]\nname = "X"\n' + IMAP + 'password = "hunter2"\n', "mailbox[0].password",
     "never kept in the config"),
    ('[company]\nname = "X"\n' + IMAP, "mailbox[0]", "password_file or password_env"),
    ('[company]\nname = "X"\n[[mailbox]]\nname = "m"\nkind = "maildir"\n', "mailbox[0]",
     "needs 'path'"),
    ('[company]\nname = "X"\n[[mailbox]]\nname = "a b"\nkind = "maildir"\npath = "p"\n',
     "mailbox[0].name", "pattern"),
    (MINIMAL + '[[mailbox]]\nname = "local"\nkind = "maildir"\npath = "q"\n', "mailbox",
     "repeated: local"),
    (MINIMAL + "[smtp]\ntls = \"ssl\"\n", "smtp.tls", "'implicit', 'starttls' or 'none'"),
]


@pytest.mark.parametrize(("text", "key", "words"), MISTAKES)
def test_each_mistake_names_file_key_and_what(tmp_path: Path, text: str, key: str,
                                               words: str) -> None:
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    file, where, what = problems[0].split(": ", 2)
    assert file == str(tmp_path / "inquiryd.toml")
    assert where == key
    assert words in what


def test_three_mistakes_are_reported_together(tmp_path: Path) -> None:
    text = MINIMAL + "[smtp]\nhots = \"x\"\n[schedule]\ntimezone = \"Nowhere/City\"\n" \
        "polls = [\"8:30\", \"noon\"]\n"
    problems = problems_of(tmp_path, text)
    assert [p.split(": ")[1] for p in problems] == [
        "smtp.hots", "schedule.timezone", "schedule.polls[1]"]


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    problems = problems_of(tmp_path, '[company]\nname = "X"\nfounded = \n')
    assert problems == [f"{tmp_path / 'inquiryd.toml'}:3: not valid TOML: Invalid value (column 11)"]


def test_missing_config_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file.*inquiryd init"):
        config.load(tmp_path / "nope.toml")


def test_password_from_file_and_env(tmp_path: Path) -> None:
    (tmp_path / "imap.pw").write_text("from-file\n", encoding="utf-8")
    text = '[company]\nname = "X"\n' + IMAP + 'password_file = "imap.pw"\n' \
        '[smtp]\nusername = "u"\npassword_env = "SMTP_PW"\n'
    settings = config.load(write(tmp_path, text), environ={"SMTP_PW": "from-env"})
    assert settings.secret(settings.mailbox[0]) == "from-file"
    assert settings.secret(settings.smtp) == "from-env"
    assert "from-file" not in repr(settings) and "from-env" not in repr(settings)


def test_password_file_in_systemd_credentials_directory(tmp_path: Path) -> None:
    (tmp_path / "imap-sales").write_text("cred\n", encoding="utf-8")
    text = '[company]\nname = "X"\n' + IMAP + \
        'password_file = "$CREDENTIALS_DIRECTORY/imap-sales"\n'
    settings = config.load(write(tmp_path, text),
                           environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert settings.secret(settings.mailbox[0]) == "cred"


@pytest.mark.parametrize(("line", "words"), [
    ('password_file = "missing.pw"', "mailbox[0].password_file: cannot read"),
    ('password_env = "NOT_SET_ANYWHERE"', "mailbox[0].password_env: environment variable"),
])
def test_unreadable_secret_is_a_config_error(tmp_path: Path, line: str, words: str) -> None:
    problems = problems_of(tmp_path, '[company]\nname = "X"\n' + IMAP + line + "\n")
    assert len(problems) == 1 and words in problems[0]


def test_offline_checks_keep_secret_problems_as_warnings(tmp_path: Path) -> None:
    path = write(tmp_path, '[company]\nname = "X"\n' + IMAP + 'password_env = "NOPE"\n')
    settings = config.load(path, environ={}, require_secrets=False)
    assert settings.secret(settings.mailbox[0]) == ""
    assert "NOPE" in settings.secret_problems[0]


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = config.load(write(tmp_path, MINIMAL), environ={})
    with pytest.raises(Exception):
        settings.company.name = "Other"  # type: ignore[misc]
