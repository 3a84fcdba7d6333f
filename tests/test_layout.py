"""The house line: pure steps import no I/O (no servers, no database, no mail parser)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PURE = [
    "types", "classify", "classify_rules", "catalog", "geo", "match_buyer", "grade",
    "understand", "rules", "draft", "quotation", "language", "followup", "newsletter",
    "owners", "report_stats", "report_html", "buyer_sheets", "header_text", "html_text",
    "deals",
    "negotiation", "samples",
    "deal_terms", "rfq_digest", "terms_readback",
    *[f"extract/{p.stem}" for p in (ROOT / "daemon" / "extract").glob("*.py")],
]
IO_LIBRARIES = {"imapclient", "aiosmtplib", "aiosmtpd", "sqlalchemy", "alembic", "mailparser",
                "psycopg", "openpyxl", "socket", "smtplib", "imaplib", "subprocess"}
IO_MODULES = {"daemon.db", "daemon.models", "daemon.store", "daemon.record", "daemon.queries",
              "daemon.fetch", "daemon.send", "daemon.sweep", "daemon.outbox", "daemon.parse",
              "daemon.review_folder", "daemon.review_imap", "daemon.drafting",
              "daemon.attachments", "daemon.campaigns", "daemon.pipeline", "daemon.runner"}


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("module", sorted(PURE))
def test_pure_module_imports_no_io(module: str) -> None:
    names = imports(ROOT / "daemon" / f"{module}.py")
    libraries = {n for n in names if n.split(".")[0] in IO_LIBRARIES}
    ours = {n for n in names if any(n == m or n.startswith(m + ".") for m in IO_MODULES)}
    assert not libraries and not ours, (libraries, ours)
