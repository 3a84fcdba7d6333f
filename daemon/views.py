"""Human-readable output of the command line (tables with rich); --json bypasses this."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console(highlight=False)


def print_status(report: dict[str, Any]) -> None:
    """`inquiryd status`: times as the company's clock shows them (report["timezone"])."""
    table = Table(title=f"Mailboxes (times in {report['timezone']})", title_justify="left")
    for col in ("mailbox", "last poll", "next poll", "fetched", "stored", "failed", "health"):
        table.add_column(col)
    for m in report["mailboxes"]:
        last = m["last_poll"] or {}
        health = m["health"] + (f" ({m['failures_in_row']} failed)"
                                if m["failures_in_row"] else "")
        table.add_row(m["name"], _minute(m["last_poll_at"]) or "never",
                      _minute(m["next_poll_at"]) or ("" if m["configured"] else
                                                     "not in the config"),
                      str(last.get("fetched", "")), str(last.get("stored", "")),
                      str(last.get("failed", "")), Text(health))
    console.print(table)
    for m in report["mailboxes"]:  # below the table: an error's words are too long for a cell
        if m["last_error"]:
            console.print(Text(f"  {m['name']}: last error: {m['last_error']}"), soft_wrap=True)
    if report["poll_every_minutes"]:
        console.print(f"Polls also every {report['poll_every_minutes']} min")
    console.print("Messages: " + _counts(report["messages"]))
    console.print("Drafts:   " + _counts(report["drafts"]))
    _print_unknown_sends(report["unknown_sends"])
    for title in ("failed", "quarantine"):
        _print_set_aside(title, report[title])
    fu = report["followups"]
    due = fu["error"] if fu["due_today"] is None else f"{fu['due_today']} due today"
    console.print(Text(f"Follow-ups: {due}; next run {_minute(fu['next_run_at']) or 'never'}"))
    _print_leases(report["leases"])


def _print_leases(rows: list[dict[str, Any]]) -> None:
    """Which instance holds what: mailboxes being polled, job firings, heartbeats."""
    if not rows:
        return
    table = Table(title="Leases (instances sharing the database)", title_justify="left")
    for col in ("lease", "holder", "since", "expires"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["lease"], r["holder"], r["since"][:19].replace("T", " "),
                      ("expired " if r["expired"] else "") + r["expires_at"][11:19])
    console.print(table)


def _minute(iso: str | None) -> str:
    """"2026-11-24T12:30:00+08:00" -> "2026-11-24 12:30"."""
    return iso[:16].replace("T", " ") if iso else ""


def _print_unknown_sends(rows: list[dict[str, Any]]) -> None:
    """One line each, the command to run at its end (soft-wrapped: copied whole)."""
    if not rows:
        return
    console.print(f"[bold]{len(rows)} message(s) may or may not have been sent: "
                  "a person must decide[/bold]")
    for r in rows:
        what = f"{r['type']} {r['id']}" + (f" of campaign {r['campaign']}" if r["campaign"] else "")
        console.print(Text(f"  {what} to {r['to']}: {r['action']}"), soft_wrap=True)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def _print_set_aside(title: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title=title.capitalize(), title_justify="left")
    for col in ("id", "from", "subject", "tries", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), r["from"] or "", (r["subject"] or "")[:60],
                      str(r["attempts"]), r["error"] or "")
    console.print(table)


_STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "bold red", "SKIP": "dim"}


def print_doctor(report: Any) -> None:
    """`inquiryd doctor`: one line per check, `STATUS  what: fix`, then the verdict."""
    from rich.text import Text

    for f in report.findings:
        line = Text(f"{f.status:<5} ", style=_STYLE[f.status])
        line.append(f"{f.text}: {f.fix}" if f.fix else f.text)  # no markup: paths hold [ ]
        console.print(line, soft_wrap=True)
    failed = sum(f.status == "FAIL" for f in report.findings)
    warned = sum(f.status == "WARN" for f in report.findings)
    console.print(f"{failed} problem(s) to fix" if failed else "all checks passed"
                  + (f" ({warned} warning(s))" if warned else ""))


def print_poll(report: Any) -> None:
    table = Table(title="Poll", title_justify="left")
    for col in ("mailbox", "fetched", "stored", "processed", "failed", "quarantined", "note"):
        table.add_column(col)
    for m in report.mailboxes:
        note = m.error or ("" if m.healthy else "unhealthy")
        table.add_row(m.name, str(m.fetched), str(m.stored), str(m.processed),
                      str(m.failed), str(m.quarantined), note)
    console.print(table)
    if report.stopped:
        console.print("stopped early on request; the rest waits for the next poll")


def print_explained(item: dict[str, Any]) -> None:
    grade = f"  grade [bold]{item['grade']}[/bold]" if item.get("grade") else ""
    where = " ".join(x for x in (item.get("country"), item.get("region")) if x)
    console.print(f"[bold]{item['file']}[/bold]")
    console.print(f"  {item['kind']}{grade}  {where}".rstrip())
    if item.get("subject"):
        console.print(f"  subject: {item['subject']}", markup=False)
    buyer = item.get("buyer")
    if buyer:
        console.print("  buyer: " + "; ".join(buyer["why"]), markup=False)
    if item.get("skus"):
        console.print("  products: " + ", ".join(item["skus"]))
    for reason in item.get("reasons") or []:
        console.print(f"  - {reason}", markup=False)
    thread = item.get("thread")
    if thread:
        console.print(f"  thread: inquiry #{thread['inquiry']} ({thread['stage']}), answers "
                      f"draft {thread['answers_draft']}; reply: {thread['variant']}",
                      markup=False)
        for line in thread["plan"]:
            console.print(f"    {line}", markup=False)
    console.print()


def print_drafts(rows: list[dict[str, Any]]) -> None:
    if not rows:
        console.print("no drafts")
        return
    table = Table(title="Drafts", title_justify="left")
    for col in ("id", "state", "to", "subject", "created", "note"):
        table.add_column(col, overflow="fold")
    for r in rows:
        note = r["error"] or (f"edited: {r['edits']}" if r["edits"] else "")
        table.add_row(r["id"], r["state"], r["to"], (r["subject"] or "")[:50],
                      (r["created_at"] or "")[:16], note)
    console.print(table)


def print_buyer_history(data: dict[str, Any]) -> None:
    """`buyers show`: one buyer's card, then their history table by table."""
    grade = data["grade"] or "-"
    if data["grade"] and data["grade_source"] == "override":
        grade += " (set by hand)"
    where = ", ".join(x for x in (data["city"], data["region"], data["country"]) if x)
    console.print(f"[bold]#{data['id']} {data['company'] or '(no company)'}[/bold]")
    for label, value in (("contact", data["contact_name"]), ("grade", grade),
                         ("where", where), ("source", data["source"]), ("type", data["type"]),
                         ("owner", data["owner"]), ("status", data["status"]),
                         ("phone", data["phone"]),
                         ("first contact", (data["first_contact_at"] or "")[:16]),
                         ("last contact", (data["last_contact_at"] or "")[:16]),
                         ("notes", data["notes"])):
        if value:
            console.print(f"  {label}: {value}", markup=False)
    fu = data["followup"]
    console.print(f"  next follow-up: {(fu['next_at'] or 'none')[:16]}"
                  + (f" ({fu['unanswered']} unanswered)" if fu["unanswered"] else ""))
    _table("Addresses", ("address", "status", "why"), [
        (a["address"], a["status"], a["history"][-1]["why"] if a["history"] else "")
        for a in data["addresses"]])
    _table("Grades", ("at", "grade", "source", "by", "reasons"), [
        ((g["at"] or "")[:16], g["grade"], g["source"], g["by"], "; ".join(map(str, g["reasons"])))
        for g in data["grades"]])
    _table("Messages", ("date", "dir", "kind", "subject"), [
        ((m["date"] or "")[:16], m["direction"], m["kind"] or "", (m["subject"] or "")[:70])
        for m in data["messages"]])
    _table("Inquiries", ("id", "date", "grade", "products", "stage", "since"), [
        (str(i["id"]), (i["created_at"] or "")[:16], i["grade"], ", ".join(i["products"]),
         i["stage"], (i.get("stage_changed_at") or "")[:16]) for i in data["inquiries"]])
    _table("Stage changes", ("at", "inquiry", "move", "by", "why"), [
        ((c["at"] or "")[:16], str(i["id"]), f"{c['from'] or '-'} -> {c['to']}", c["by"],
         c["reason"]) for i in data["inquiries"] for c in i.get("stage_changes", [])])
    _table("Drafts", ("id", "kind", "state", "subject", "created", "sent"), [
        (d["id"], d["kind"], d["state"], (d["subject"] or "")[:50], (d["created_at"] or "")[:16],
         (d["sent_at"] or "")[:16]) for d in data["drafts"]])


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    if not rows:
        console.print(f"{title}: none")
        return
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*(Text(str(c)) for c in row))  # subjects may hold [brackets]
    console.print(table)


def print_buyer_list(rows: list[dict[str, Any]], *, limit: int, offset: int) -> None:
    """`buyers list`: one line per buyer, most recently contacted first."""
    if not rows:
        console.print("no buyers match")
        return
    from rich.text import Text

    table = Table(title="Buyers", title_justify="left")
    for col in ("id", "company", "address", "grade", "where", "owner"):
        table.add_column(col, overflow="fold")
    for col in ("last contact", "follow-up", "inq."):
        table.add_column(col, no_wrap=True)
    for r in rows:
        where = ", ".join(x for x in (r["city"], r["country"]) if x)
        table.add_row(*(Text(c) for c in (
            str(r["id"]), r["company"], (r["addresses"] or [""])[0], r["grade"] or "", where,
            r["owner"], (r["last_contact_at"] or "never")[:10],
            (r["next_followup_at"] or "")[:10], str(r["inquiries"]))))
    console.print(table)
    if len(rows) == limit:
        console.print(f"more may match: --offset {offset + limit}")
