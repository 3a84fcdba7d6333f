"""Loading and rendering templates/: Jinja2 in a sandbox, strict about undefined names.

Salespeople edit these files, so they render in a SandboxedEnvironment with
StrictUndefined (jinja2>=3.1.6, CVE-2025-27516), and every mistake is reported as
`FILE:LINE: what is wrong`:
- `check_templates` compiles every file (syntax errors);
- `render_all_for_check` renders every reply template against sample contexts, which
  finds what only shows when rendering: a misspelt name, a sandbox refusal, a missing
  "Subject:" line;
- `render` is what drafting uses: the same errors, as a `RenderError` naming the file
  and line, and an output cap.

The sandbox refuses attribute escapes (`''.__class__`, `|attr('__class__')`,
`cycler.__init__.__globals__`, `self._TemplateReference__context`) with SecurityError.
It does not stop a template that asks for a huge string (field notes: `'x' * 10**9`),
so this environment also refuses sequence repetition, powers, padding filters and
calls whose numbers would build more than the output cap, and `render` stops any
template whose output passes the cap. Those are guards against a slip of the keyboard;
the people editing templates are staff, not strangers.

Plain text is whitespace-sensitive. The rule for template authors: a line holding only
`{% ... %}` tags disappears from the output; any other line keeps its line break, even
when it ends with a tag (`Dear {{ name }},{% endif %}`). Jinja's `trim_blocks` and
`lstrip_blocks` do the first half; `_TextLineBreaks` does the second (plain trim_blocks
would glue such a line to the next one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (FileSystemLoader, StrictUndefined, TemplateError, TemplateNotFound,
                    TemplatesNotFound, TemplateSyntaxError, UndefinedError)
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.filters import do_center, do_format, do_indent
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from daemon.errors import ConfigError

# Fixed files (PDF profiles, price sheets, photos) live here and are never rendered.
ATTACHMENTS = "attachments"
TEMPLATE_SUFFIXES = (".j2", ".jinja", ".txt", ".html", ".eml")
# A reply is a few KiB; anything near this is a template mistake, not a letter.
MAX_OUTPUT_CHARS = 256 * 1024
# The reply templates every installation needs in English (other languages may hold a
# subset: a missing one falls back to English). See templates/README.md.
REPLY_VARIANTS = ("A", "B", "C", "D", "sample", "platform")
SUBJECT_PREFIX = "Subject:"


class RenderError(ConfigError):
    """A template could not be rendered; `problems[0]` is `FILE:LINE: what is wrong`."""

    def __init__(self, template: str, line: int | None, what: str) -> None:
        self.template = template
        self.line = line
        self.what = what
        super().__init__(f"{template}:{line}: {what}" if line else f"{template}: {what}")


class _Sandbox(SandboxedEnvironment):
    """The sandbox, plus refusals of operations that build huge values in one step."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "%" and isinstance(left, str) and _big_width(left):
            raise SecurityError("a width above the output cap in a template format")
        if operator_ == "**" and _big_power(left, right):
            raise SecurityError("the power is too large for a template")
        if operator_ == "*" and _big_repeat(left, right):
            raise SecurityError(f"repeating a text or list beyond {MAX_OUTPUT_CHARS} "
                                f"items is not allowed in a template")
        return super().call_binop(context, operator_, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any,  # noqa: N805 (Jinja's signature)
             **kwargs: Any) -> Any:
        # str.ljust(10**9), '{:>999999999}'.format(1) ... : a width is a number argument.
        if any(_too_big(a) for a in (*args, *kwargs.values())):
            raise SecurityError(f"a number above {MAX_OUTPUT_CHARS} passed to "
                                f"{getattr(__obj, '__name__', 'a call')} in a template")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Any:
        # jinja2 3.1.6 wraps str.format where it is looked up: '{:>999999999}'.format(x).
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _big_width(value.__self__):
            raise SecurityError("a width above the output cap in a template format")
        return wrapped


def _too_big(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > MAX_OUTPUT_CHARS


_LONG_NUMBER = re.compile(r"\d{7,}")


def _big_width(fmt: str) -> bool:
    """A format string asking for a width or precision of a million or more."""
    return bool(_LONG_NUMBER.search(fmt)) and ("%" in fmt or "{" in fmt)


def _big_power(left: Any, right: Any) -> bool:
    return isinstance(right, int) and (right > 64 or (isinstance(left, int) and abs(left) > 10**6))


def _big_repeat(left: Any, right: Any) -> bool:
    for seq, times in ((left, right), (right, left)):
        if isinstance(seq, (str, list, tuple)) and isinstance(times, int):
            return len(seq) * times > MAX_OUTPUT_CHARS
    return False


def _capped(filter_: Any) -> Any:
    """A padding filter that refuses widths above the output cap."""

    def capped(*args: Any, **kwargs: Any) -> Any:
        if any(_too_big(a) for a in (*args[1:], *kwargs.values())):
            raise SecurityError(f"width above {MAX_OUTPUT_CHARS} in a template filter")
        if args and isinstance(args[0], str) and _big_width(args[0]):
            raise SecurityError("a width above the output cap in a template format")
        return filter_(*args, **kwargs)

    capped.__name__ = getattr(filter_, "__name__", "filter")
    return capped


_TAG = re.compile(r"\{%.*?%\}")


class _TextLineBreaks(Extension):
    """Keep the line break of a text line that ends with a `{% tag %}`.

    `trim_blocks` drops the newline after every block tag; that is right for a line of
    tags only, wrong for "Dear {{ name }},{% endif %}". Such lines get an empty `{{ "" }}`
    after the tag, so the newline no longer follows a tag. Line numbers do not move.
    """

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        lines = source.split("\n")
        for i, line in enumerate(lines):
            if not line.endswith("%}") or line.endswith("-%}"):
                continue
            tags = list(_TAG.finditer(line))
            if tags and tags[-1].end() == len(line) and _TAG.sub("", line).strip():
                lines[i] = line + '{{ "" }}'
        return "\n".join(lines)


def join_words(items: Iterable[Any], last: str = "and", separator: str = ", ") -> str:
    """['a', 'b', 'c']|join_words('and') -> 'a, b and c' (`last` in the reply's language)."""
    words = [str(i) for i in items]
    if len(words) < 2:
        return "".join(words)
    return f"{separator.join(words[:-1])} {last} {words[-1]}" if last else separator.join(words)


def environment(root: Path) -> SandboxedEnvironment:
    """The one template environment: sandboxed, strict, plain text, from `root`."""
    env = _Sandbox(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text mail; HTML templates escape explicitly
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=[_TextLineBreaks],
    )
    env.filters["join_words"] = join_words
    env.filters["center"] = _capped(do_center)
    env.filters["indent"] = _capped(do_indent)
    env.filters["format"] = _capped(do_format)
    return env


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


# ------------------------------------------------------------------ rendering


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered template: which file was used (after fallbacks) and its text."""

    name: str
    text: str


def render(env: SandboxedEnvironment, names: str | Sequence[str],
           context: Mapping[str, Any], *, max_chars: int = MAX_OUTPUT_CHARS) -> Rendered:
    """Render the first of `names` that exists; RenderError naming file and line if not.

    The output is streamed and stopped as soon as it passes `max_chars`.
    """
    wanted = [names] if isinstance(names, str) else list(names)
    try:
        template = env.select_template(wanted)
    except (TemplateNotFound, TemplatesNotFound):
        raise RenderError(wanted[0], None, f"template not found (looked for "
                                           f"{', '.join(wanted)})") from None
    except TemplateSyntaxError as exc:
        raise RenderError(_display(env, exc.filename or exc.name or wanted[0]), exc.lineno,
                          exc.message or "syntax error") from None
    name = template.name or wanted[0]
    try:
        text = _collect(template.generate(context), max_chars,
                        _display(env, template.filename or name))
        return Rendered(name, text)
    except RenderError:
        raise
    except Exception as exc:  # any template mistake becomes one clear line
        raise _render_error(env, name, exc) from None


def _collect(chunks: Iterator[str], max_chars: int, shown: str) -> str:
    parts: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > max_chars:
            raise RenderError(shown, None, f"output larger than {max_chars} characters: "
                                          f"stopped (a loop or repetition gone wrong?)")
        parts.append(chunk)
    return "".join(parts)


def _render_error(env: SandboxedEnvironment, name: str, exc: Exception) -> RenderError:
    where, line = _template_frame(exc.__traceback__, name)
    where = _display(env, where)
    if isinstance(exc, SecurityError):
        return RenderError(where, line, f"refused by the template sandbox: {exc}")
    if isinstance(exc, UndefinedError):
        return RenderError(where, line, f"{exc.message} (a misspelt name? templates/README.md "
                                        f"lists the names a reply template gets)")
    return RenderError(where, line, f"{type(exc).__name__}: {exc}")


def _template_frame(tb: TracebackType | None, name: str) -> tuple[str, int | None]:
    """The innermost traceback frame inside a template file (Jinja rewrites them so)."""
    found: tuple[str, int | None] = (name, None)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(TEMPLATE_SUFFIXES) and "site-packages" not in filename:
            found = (filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _display(env: SandboxedEnvironment, filename: str) -> str:
    """A template path as the salesperson knows it: under the templates folder."""
    loader = env.loader
    if isinstance(loader, FileSystemLoader) and loader.searchpath:
        root = Path(loader.searchpath[0])
        path = Path(filename)
        return str(path if path.is_absolute() else root / path)
    return filename


def split_subject(text: str) -> tuple[str, str]:
    """A rendered reply's first line "Subject: ..." and the body after it.

    ValueError when the first non-blank line is not a subject line.
    """
    stripped = text.lstrip("\n")
    first, _, body = stripped.partition("\n")
    if not first.startswith(SUBJECT_PREFIX):
        raise ValueError(f"the first line must be '{SUBJECT_PREFIX} ...' (the subject of "
                         f"the reply), found {first[:60]!r}")
    return first[len(SUBJECT_PREFIX):].strip(), body.lstrip("\n")


# ------------------------------------------------------------------ for `inquiryd check`


def reply_template_names(root: Path) -> list[str]:
    """The reply templates a draft can pick: reply/<lang>/<variant>.txt.j2, partials out."""
    return [n for n in template_names(root)
            if n.startswith("reply/") and n.count("/") == 2
            and not n.rsplit("/", 1)[1].startswith("_")]


def render_all_for_check(root: Path,
                         sample_context: Mapping[str, Any] | Sequence[Mapping[str, Any]]
                         ) -> list[str]:
    """Render every reply template against each sample context; one line per problem.

    Finds what compiling cannot: undefined names (with file and line), sandbox refusals,
    a missing subject line, and a missing English template (the fallback of all). A
    context with a "variant" key is used for that variant's templates only (the
    platform reply needs a platform lead that the others never get).
    """
    if not root.is_dir():
        return [f"{root}: templates folder not found (paths.templates)"]
    contexts = [sample_context] if isinstance(sample_context, Mapping) else list(sample_context)
    env = environment(root)
    problems = [f"{root / 'reply' / 'en' / f'{v}.txt.j2'}: missing: every language falls "
                f"back to English, so the English '{v}' reply is required"
                for v in REPLY_VARIANTS if not (root / "reply" / "en" / f"{v}.txt.j2").is_file()]
    for name in reply_template_names(root):
        # A context made for one variant (its "variant" key) checks that variant's files.
        variant = name.rsplit("/", 1)[1].split(".", 1)[0]
        own = [c for c in contexts if c.get("variant") == variant] or contexts
        problem = _check_one(env, root, name, own)
        if problem:
            problems.append(problem)
    return problems


def _check_one(env: SandboxedEnvironment, root: Path, name: str,
               contexts: Sequence[Mapping[str, Any]]) -> str | None:
    """The first problem rendering `name` against the contexts, or None."""
    for context in contexts:
        try:
            rendered = render(env, name, context)
            split_subject(rendered.text)
        except RenderError as exc:
            return exc.problems[0]
        except ValueError as exc:
            return f"{root / name}:1: {exc}"
    return None


__all__ = ["ATTACHMENTS", "MAX_OUTPUT_CHARS", "REPLY_VARIANTS", "RenderError", "Rendered",
           "check_templates", "environment", "render", "render_all_for_check",
           "reply_template_names", "split_subject", "template_names"]
