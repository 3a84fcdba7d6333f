"""Loading templates/: Jinja2 in a sandbox, strict about undefined names.

Salespeople edit these files, so they render in a SandboxedEnvironment with
StrictUndefined, and a mistake is reported as `FILE:LINE: what is wrong`.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

# Fixed files (PDF profiles, price sheets, photos) live here and are never rendered.
ATTACHMENTS = "attachments"
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".txt", ".html", ".eml")


def environment(root: Path) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text mail; HTML templates escape explicitly
        keep_trailing_newline=True,
    )


def template_names(root: Path) -> list[str]:
    """Every template under root, as loader names, attachments left out."""
    names = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] != ATTACHMENTS and path.suffix in TEMPLATE_SUFFIXES:
            names.append(rel.as_posix())
    return names


def check_templates(root: Path) -> list[str]:
    """Compile every template; return one problem line per broken file."""
    if not root.is_dir():
        return [f"{root}: templates folder not found (paths.templates)"]
    env = environment(root)
    problems = []
    for name in template_names(root):
        try:
            env.get_template(name)
        except TemplateSyntaxError as exc:
            problems.append(f"{root / name}:{exc.lineno}: {exc.message}")
        except (TemplateError, UnicodeDecodeError) as exc:
            problems.append(f"{root / name}: {exc}")
    return problems
