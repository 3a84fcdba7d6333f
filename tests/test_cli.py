"""The command line: init, check, db upgrade, status, and exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from daemon.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_help_lists_the_commands_of_the_design(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("init", "check", "run", "poll", "send", "explain", "status", "buyers",
                    "drafts", "reprocess", "followups", "campaign", "report", "db"):
        assert f"  {command} " in out


def test_init_writes_a_starter_that_checks_clean(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init", str(tmp_path / "desk"))
    assert code == 0 and "inquiryd.toml" in out
    for folder in ("rules", "templates", "state/review/pending", "state/review/approved",
                   "state/inbox/new"):
        assert (tmp_path / "desk" / folder).is_dir()
    config = str(tmp_path / "desk" / "inquiryd.toml")
    code, out, err = run(capsys, "-c", config, "check", "--offline")
    assert (code, err) == (0, "")
    assert "all checks passed" in out


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "inquiryd.toml").write_text("keep me")
    code, _, err = run(capsys, "init", str(tmp_path))
    assert code == 1 and "refusing to overwrite" in err
    assert (tmp_path / "inquiryd.toml").read_text() == "keep me"


def test_check_reports_every_mistake_and_exits_1(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[company]\nname = "X"\nfounded = "old"\n[[mailbox]]\nname = "m"\n'
                   'kind = "maildir"\npath = "p"\n[schedule]\ntimezone = "Nowhere/X"\n'
                   '[smtp]\nprot = 25\n')
    code, out, err = run(capsys, "-c", str(bad), "check", "--offline")
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "company.founded", "smtp.prot", "schedule.timezone"]
    assert "Traceback" not in err


def test_check_names_a_broken_rules_file_and_template(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "init", str(tmp_path))
    (tmp_path / "rules" / "broken.toml").write_text("[a]\nb = \n")
    (tmp_path / "templates" / "broken.txt.j2").write_text("Hello\n{% if x %}\nno end\n")
    code, _, err = run(capsys, "-c", str(tmp_path / "inquiryd.toml"), "check", "--offline")
    assert code == 1
    assert f"{tmp_path / 'rules' / 'broken.toml'}:2: not valid TOML" in err
    assert f"{tmp_path / 'templates' / 'broken.txt.j2'}:" in err


def test_example_config_checks_offline() -> None:
    # The documented example is valid as shipped (its passwords are only needed to log in).
    done = subprocess.run([sys.executable, "-m", "daemon", "-c", "inquiryd.example.toml",
                           "check", "--offline"], cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "all checks passed" in done.stdout


def test_db_upgrade_then_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "init", str(tmp_path))
    config = str(tmp_path / "inquiryd.toml")
    code, out, _ = run(capsys, "-c", config, "db", "upgrade")
    assert code == 0 and "applied 0001, 0002" in out  # and any later ones
    code, out, _ = run(capsys, "-c", config, "db", "upgrade")
    assert code == 0 and "already up to date" in out
    code, out, _ = run(capsys, "-c", config, "status", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["messages"] == {} and report["quarantine"] == []


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "no-such-command")
    assert code == 2 and "No such command" in err
    code, _, _ = run(capsys, "status", "--no-such-flag")
    assert code == 2


def test_missing_config_exits_1_without_trace(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-c", str(tmp_path / "none.toml"), "status")
    assert code == 1 and "no such file" in err and "Traceback" not in err
