"""Small builders shared by tests: configs for a test mailbox, sample messages."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from daemon import config

ROOT = Path(__file__).resolve().parents[1]
COMPANY = '[company]\nname = "Brightstar"\nown_domains = ["brightstar.example"]\n'


def imap_block(user: Any, *, name: str = "sales", folders: tuple[str, ...] = ("INBOX",),
               tls: str = "none", port: int | None = None, ca_file: Path | None = None) -> str:
    server = user.server
    lines = [
        "[[mailbox]]", f'name = "{name}"', 'kind = "imap"', f'host = "{server.host}"',
        f"port = {port or server.port}", f'tls = "{tls}"', f'username = "{user.name}"',
        f'password_env = "PW_{name.upper().replace("-", "_")}"',
        "folders = [" + ", ".join(f'"{f}"' for f in folders) + "]", "timeout_seconds = 10",
    ]
    if ca_file:
        lines.append(f'ca_file = "{ca_file}"')
    return "\n".join(lines) + "\n"


def settings_for(tmp_path: Path, mailboxes: str, *, environ: dict[str, str] | None = None,
                 extra: str = "") -> config.Settings:
    paths = "" if "[paths]" in extra else (f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
             f'state = "{tmp_path / "state"}"\n')
    smtp = "" if "[smtp]" in extra else '[smtp]\nsender = "Sales <sales@brightstar.example>"\n'
    text = COMPANY + mailboxes + paths + smtp + (
        "[ingest]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.2\n" + extra)
    path = tmp_path / "inquiryd.toml"
    path.write_text(text, encoding="utf-8")
    return config.load(path, environ=environ or {})


def imap_settings(tmp_path: Path, user: Any, **kw: Any) -> config.Settings:
    extra = kw.pop("extra", "")
    return settings_for(tmp_path, imap_block(user, **kw), extra=extra,
                        environ={f"PW_{kw.get('name', 'sales').upper()}": user.password})


def inquiry(n: int, *, subject: str | None = None, body: str | None = None,
            message_id: bool = True) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Buyer {n} <buyer{n}@importer{n % 7}.example>"
    msg["To"] = "sales@brightstar.example"
    msg["Subject"] = subject or f"Inquiry {n}: 5000 pcs BS-NK-101 pendant necklace"
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, n % 60, tzinfo=timezone.utc))
    if message_id:
        msg["Message-ID"] = make_msgid(f"inq{n}", "importer.example")
    msg.set_content(body or f"Dear Sir,\nPlease quote {n * 100} pcs FOB Ningbo.\nRegards\n")
    return msg.as_bytes()
