"""`inquiryd check`: every problem with config, rules, templates and servers, at once."""

from __future__ import annotations

from collections.abc import Callable

from daemon.config import Settings
from daemon.rulebook import check_rules
from daemon.templating import check_templates

# Server logins register here (mailbox and SMTP edges), so this module needs no I/O code.
LoginCheck = Callable[[Settings], list[str]]
LOGIN_CHECKS: list[LoginCheck] = []


def run_checks(settings: Settings, *, offline: bool) -> tuple[list[str], list[str]]:
    """Return (problems, notes); no problems means everything checked is usable."""
    notes = [f"config {settings.source}: ok"]
    problems = check_rules(settings.paths.rules) + check_templates(settings.paths.templates)
    if not problems:
        notes.append(f"rules {settings.paths.rules} and templates {settings.paths.templates}: ok")
    if offline:
        notes.extend(f"warning: {p} (needed to log in)" for p in settings.secret_problems)
        notes.append("server logins skipped (--offline)")
        return problems, notes
    for login_check in LOGIN_CHECKS:
        problems.extend(login_check(settings))
    return problems, notes
