"""`inquiryd init DIR`: a working starter config, rules, templates and state layout."""

from __future__ import annotations

import shutil
from pathlib import Path

from daemon.errors import UsageError

# The editable rules and templates shipped with inquiryd; init copies them.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STATE_FOLDERS = (
    "inbox/new", "inbox/cur", "inbox/tmp",
    "review/pending", "review/approved", "review/rejected", "review/sent", "review/failed",
    "reports",
)

STARTER_CONFIG = """\
# inquiryd starter configuration. Every key is explained in inquiryd.example.toml.
# Try it at once: copy .eml files into state/inbox/new/ and run
#   inquiryd -c {config} poll

[company]
name = "Your Company Co., Ltd."
founded = 2010
total_assets = ""
annual_sales = ""
awards = []
contact_person = ""
telephone = ""
fax = ""
website = ""
strengths = []
own_domains = []

# A local Maildir, so this starter works with no server. For the real sales mailbox,
# replace it with an IMAP account:
#   [[mailbox]]
#   name = "sales"
#   kind = "imap"
#   host = "imap.example.com"
#   tls = "implicit"
#   username = "sales@example.com"
#   password_env = "INQUIRYD_SALES_PASSWORD"
#   folders = ["INBOX"]
[[mailbox]]
name = "local"
kind = "maildir"
path = "state/inbox"

[smtp]
host = "localhost"
tls = "starttls"
sender = "Sales <sales@example.com>"

[schedule]
timezone = "Asia/Shanghai"
polls = ["08:30", "12:30", "17:30"]

[paths]
rules = "rules"
templates = "templates"
state = "state"
"""


def init(target: Path) -> list[Path]:
    """Write the starter into TARGET; refuse to overwrite anything that exists."""
    config = target / "inquiryd.toml"
    planned = [config, target / "rules", target / "templates"]
    existing = [p for p in planned if p.exists()]
    if existing:
        raise UsageError(
            "refusing to overwrite: " + ", ".join(str(p) for p in existing)
            + " (choose an empty folder)"
        )
    missing = [PROJECT_ROOT / n for n in ("rules", "templates") if not (PROJECT_ROOT / n).is_dir()]
    if missing:
        raise UsageError(
            "the starter rules and templates are not installed beside this inquiryd "
            f"({', '.join(map(str, missing))}); install from a source checkout with "
            "'pip install -e', or copy its rules/ and templates/ by hand")
    target.mkdir(parents=True, exist_ok=True)
    config.write_text(STARTER_CONFIG.format(config=config), encoding="utf-8")
    for name in ("rules", "templates"):
        shutil.copytree(PROJECT_ROOT / name, target / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for folder in STATE_FOLDERS:
        (target / "state" / folder).mkdir(parents=True, exist_ok=True)
    return [config, target / "rules", target / "templates", target / "state"]
