"""Generated docs must match the code they describe, and no doc, docstring or comment
names a file, test, setting or metric that does not exist."""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

from metrics_sidecar.settings import Settings
from trading_app.settings import AppSettings

REPO = Path(__file__).resolve().parent.parent


def test_configuration_doc_matches_settings() -> None:
    result = subprocess.run([sys.executable, "scripts/gen_config_docs.py", "--check"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_env_example_lists_only_real_keys() -> None:
    doc = (REPO / "docs" / "configuration.md").read_text()
    for line in (REPO / ".env.example").read_text().splitlines():
        key = line.lstrip("# ").split("=", 1)[0].strip()
        if key.startswith(("SIDECAR_", "WEBAPP_")):
            assert f"`{key}`" in doc, key


# --- References: every file, test, setting and metric that docs or code name must exist. ---

TRACKED = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
# A relative path in prose may start at the root, at a package, at its sources, or in its package dir.
ROOTS = ("", "metrics-sidecar/", "trading-app/", "metrics-sidecar/src/", "trading-app/src/",
         "metrics-sidecar/src/metrics_sidecar/", "trading-app/src/trading_app/")
PATH_RE = re.compile(r"(?<![\w./-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|sh|yml|yaml|json|toml|ini|rs|csv|txt|png))\b")
FILE_NAME_RE = re.compile(r"(?<![\w./-])([a-z_][\w-]*\.(?:py|md))\b")
TEST_RE = re.compile(r"(?<![\w/.-])(test_\w+)(?![\w.])")
SETTING_RE = re.compile(r"\b((?:SIDECAR|WEBAPP)_[A-Z0-9_]*[A-Z0-9])\b")
DELIBERATELY_UNKNOWN = ("UNKNOWN", "NO_SUCH")  # settings tests name keys that must be ignored
METRIC_RE = re.compile(
    r"`([a-z][a-z0-9_]*_(?:total|seconds|bytes|ratio|count|sum|bucket|info))(?:\{[^`]*\})?`")


def _python_parts(text: str) -> tuple[str, str]:
    """(comments and docstrings, every string literal) of a Python file."""
    prose, strings = [], []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            prose.append(token.string)
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            prose.append(ast.get_docstring(node, clean=False) or "")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            strings.append(node.value)
    return "\n".join(prose), "\n".join(strings)


def _sources() -> dict[str, tuple[str, str]]:
    """{file: (prose, settings-bearing text)} for the docs, the README, scripts and all Python files."""
    out = {}
    for name in TRACKED:
        if name.startswith("docs/schema/") or not name.endswith((".md", ".py", ".sh")):
            continue
        text = (REPO / name).read_text(errors="replace")
        if name.endswith(".py"):
            prose, strings = _python_parts(text)
            out[name] = (prose, prose + "\n" + strings)
        else:
            out[name] = (text, text)
    return out


SOURCES = _sources()


def _exists(ref: str, referrer: str) -> bool:
    ref = ref.rstrip("/.")
    return any((REPO / root / ref).exists() for root in (*ROOTS, str(Path(referrer).parent) + "/"))


def test_every_referenced_file_exists() -> None:
    names = {Path(name).name for name in TRACKED}
    missing = [(src, m) for src, (prose, _) in SOURCES.items() for m in PATH_RE.findall(prose)
               if not any(c in m for c in "*<>{}$") and not _exists(m, src)]
    missing += [(src, m) for src, (prose, _) in SOURCES.items() for m in FILE_NAME_RE.findall(prose) if m not in names]
    assert missing == []


def test_every_referenced_test_exists() -> None:
    tests = {Path(name).stem for name in TRACKED if Path(name).name.startswith("test_")}
    for name in TRACKED:
        if Path(name).name.startswith("test_") and name.endswith(".py"):
            tests |= {node.name for node in ast.walk(ast.parse((REPO / name).read_text()))
                      if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    missing = [(src, m) for src, (prose, _) in SOURCES.items() for m in TEST_RE.findall(prose) if m not in tests]
    assert missing == []


def test_every_referenced_setting_exists() -> None:
    known = {"SIDECAR_" + f.upper() for f in Settings.model_fields} | {"WEBAPP_" + f.upper()
                                                                         for f in AppSettings.model_fields}
    missing = [(src, m) for src, (_, text) in SOURCES.items() for m in SETTING_RE.findall(text)
               if m not in known and not any(word in m for word in DELIBERATELY_UNKNOWN)]
    assert missing == []


def test_every_metric_named_in_the_docs_exists() -> None:
    """A metric the docs name in backticks is a string in the code (not a test's) or a Prometheus rule."""
    code: set[str] = set()
    for name in TRACKED:
        if name.endswith(".py") and not (name.startswith("tests/") or "/tests/" in name):
            code |= set(re.findall(r"[a-z][a-z0-9_:]*", _python_parts((REPO / name).read_text())[1]))
        elif name.startswith("prometheus/rules/") and name.endswith(".yml"):
            code |= set(re.findall(r"[a-z][a-z0-9_:]*", (REPO / name).read_text()))
    missing = [(src, m) for src, (text, _) in SOURCES.items() if src.endswith(".md") for m in METRIC_RE.findall(text)
               if not {m, re.sub(r"_(bucket|count|sum)$", "", m), m.removesuffix("_total")} & code]
    assert missing == []
