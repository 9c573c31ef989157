"""Checks that keep the layering true, run by `.ci/run` (exit 1 and one line per violation).

- Each library stays in its home module(s): rich renders only in `cli/output.py`, SQL
  only in `store/`, SMTP only in the SMTP transport, and so on (ruff's banned-API rule
  works per folder at best; this works per file).
- The clock is read only where a command starts (the CLI, the web app) and in the one
  Maildir clean-up that compares file times: everything else gets `now` passed in.
- No import cycle between seqctl's modules, counting imports made inside functions
  (a lazy import only hides a cycle) and not those made only for type checking.

Usage: python scripts/check_shape.py [ROOT]   (ROOT defaults to the repository)
"""

from __future__ import annotations

import ast
import sys
from fnmatch import fnmatch
from pathlib import Path

# library → the files (glob patterns relative to the repository) that may import it
HOMES: dict[str, tuple[str, ...]] = {
    "rich": ("seqctl/cli/output.py",),
    "typer": ("seqctl/cli/*",),
    "click": ("seqctl/cli/*",),
    "sqlalchemy": ("seqctl/store/*",),
    "sqlmodel": ("seqctl/store/tables.py", "seqctl/store/migrations/*"),
    "alembic": ("seqctl/store/migrate.py", "seqctl/store/migrations/*"),
    "psycopg": ("seqctl/store/*",),
    "smtplib": ("seqctl/delivery/transports.py",),
    "imaplib": ("seqctl/inbound/imap.py",),
    "jinja2": ("seqctl/delivery/render.py",),
    "yaml": ("seqctl/spec/loader.py",),
    "cryptography": ("seqctl/token_box.py",),
    "authlib": ("seqctl/oauth/client.py",),
    "requests": ("seqctl/oauth/client.py", "seqctl/notify/http.py"),
    "joserfc": ("seqctl/oauth/client.py",),
    "standardwebhooks": ("seqctl/notify/payloads.py",),
    "prometheus_client": ("seqctl/metrics.py",),
}
# Reading the clock: where it is allowed, and why.
CLOCK_READS = ("datetime.now", "datetime.utcnow", "date.today", "time.time")
CLOCK_HOMES = (
    "seqctl/cli/app.py",  # the one reading of a command (`--now` replaces it)
    "seqctl/web.py",  # the tracking app's clock, replaceable for tests and `--now`
    "seqctl/delivery/transports.py",  # the Maildir rule for abandoned tmp/ files compares file times
    "seqctl/real_time.py",  # token expiry and webhook timestamps are checked by others' real clocks
)


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(
    tree: ast.Module, module: str, is_package: bool, known: set[str] | dict[str, Path]
) -> list[tuple[int, str, bool]]:
    """(line, imported module, type-checking only) for every import in the file."""
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    found: list[tuple[int, str, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((node.lineno, alias.name, _type_checking_only(node, parents)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            only_types = _type_checking_only(node, parents)
            # `from seqctl.store import activity` imports the module seqctl.store.activity;
            # `from seqctl.store.db import Database` imports seqctl.store.db.
            names = [f"{target}.{alias.name}" for alias in node.names]
            submodules = [name for name in names if name in known]
            for name in submodules or [target]:
                found.append((node.lineno, name, only_types))
    return found


def _clock_reads(tree: ast.Module) -> list[tuple[int, str]]:
    return [
        (node.lineno, name)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and (name := ast.unparse(node.func)) in CLOCK_READS
    ]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def check(root: Path) -> list[str]:
    problems: list[str] = []
    files = sorted((root / "seqctl").rglob("*.py"))
    modules = {_module_name(path, root): path for path in files}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        relative = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        for line, target, only_types in _imports(tree, name, path.name == "__init__.py", modules):
            library = target.split(".")[0]
            homes = HOMES.get(library)
            if homes is not None and not any(fnmatch(relative, home) for home in homes):
                problems.append(f"{relative}:{line}: imports {library}, which belongs to {', '.join(homes)}")
            if not only_types and target in modules and target != name:
                graph[name].add(target)
        if relative not in CLOCK_HOMES:
            for line, call in _clock_reads(tree):
                problems.append(f"{relative}:{line}: reads the clock ({call}); take `now` as a parameter")
    for component in _cycles(graph):
        problems.append("import cycle among: " + ", ".join(component))
    return problems


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    problems = check(root)
    for problem in problems:
        print(problem)
    print(f"check_shape: {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
