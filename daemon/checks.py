"""`inquiryd check`: every problem with config, rules, templates and servers, at once."""

from __future__ import annotations

import asyncio

from daemon.config import Mailbox, Settings
from daemon.errors import ConfigError, MailboxError
from daemon.fetch.imap import tls_context
from daemon.send import check_tls_policy
from daemon.rulebook import check_rules
from daemon.templating import check_templates


def run_checks(settings: Settings, *, offline: bool) -> tuple[list[str], list[str]]:
    """Return (problems, notes); no problems means everything checked is usable."""
    notes = [f"config {settings.source}: ok"]
    problems = file_problems(settings)
    if not problems:
        notes.append(f"rules {settings.paths.rules}, templates {settings.paths.templates} "
                     "and attachments: ok")
    if offline:
        notes.extend(f"warning: {p} (needed to log in)" for p in settings.secret_problems)
        notes.append("server logins skipped (--offline)")
        return problems, notes
    for box in settings.mailbox:
        problem = imap_login(settings, box)
        if problem:
            problems.append(problem)
        else:
            notes.append(f"mailbox {box.name}: logged in, folders readable")
    problem = smtp_login(settings)
    problems.extend([problem] if problem else [])
    if not problem:
        notes.append(f"smtp {settings.smtp.host}: logged in")
    return problems, notes


def file_problems(settings: Settings) -> list[str]:
    """Mistakes in rules, templates, attachments and the TLS policy; nothing logs in."""
    from daemon.samples_record import check_policy

    problems = (check_rules(settings.paths.rules) + check_policy(settings.paths.rules)
                + check_templates(settings.paths.templates))
    if not problems:
        problems += _render_checks(settings)
    try:
        check_tls_policy(settings)
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def _render_checks(settings: Settings) -> list[str]:
    """Render every reply template against sample buyers; every attachment must exist."""
    from daemon import attachments, draft, rulebook, templating
    from daemon.models import utcnow

    book = rulebook.load(settings.paths.rules)
    today = utcnow().astimezone(settings.schedule.tz).date()
    samples = draft.sample_contexts(settings.company, book.catalog, today=today)
    return (templating.render_all_for_check(settings.paths.templates, samples)
            + attachments.check_attachments(settings.paths.templates, book.catalog))


def imap_login(settings: Settings, box: Mailbox) -> str | None:
    from daemon.runner import open_source

    try:
        with open_source(box, settings) as source:
            for folder in box.folders:
                source.open_folder(folder)
    except MailboxError as exc:
        return f"{settings.source}: mailbox {box.name}: {exc}"
    return None


def smtp_login(settings: Settings) -> str | None:
    import aiosmtplib

    smtp = settings.smtp

    async def login() -> None:
        client = aiosmtplib.SMTP(
            hostname=smtp.host, port=smtp.effective_port, timeout=smtp.timeout_seconds,
            use_tls=smtp.tls == "implicit", start_tls=True if smtp.tls == "starttls" else False,
            tls_context=tls_context(smtp.ca_file))
        async with client:
            if smtp.username:
                await client.login(smtp.username, settings.secret(smtp))

    try:
        asyncio.run(login())
    except (aiosmtplib.SMTPException, OSError) as exc:
        return f"{settings.source}: smtp {smtp.host}:{smtp.effective_port}: {exc}"
    return None
