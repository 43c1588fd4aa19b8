"""The package's shape, read from the code: import directions, no cycles, a CLI that starts light."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "rainstream"

# importer's package -> packages it must never import (io sits below the engine; the model below both)
FORBIDDEN = {
    "rainstream.io": ("rainstream.engine", "rainstream.model", "rainstream.pipeline", "rainstream.api",
                      "rainstream.bench", "rainstream.training"),
    "rainstream.model": ("rainstream.engine", "rainstream.io", "rainstream.pipeline", "rainstream.api",
                         "rainstream.bench"),
    "rainstream.engine": ("rainstream.io", "rainstream.pipeline", "rainstream.api", "rainstream.bench"),
    "rainstream.pipeline": ("rainstream.api", "rainstream.bench"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every rainstream module ``path`` imports, at any depth of the file (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from pkg import sub`` imports the module pkg.sub when there is one
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                     for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "rainstream" or n.startswith("rainstream."))
    return found


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_every_import_goes_the_allowed_way():
    modules = all_modules()
    wrong = []
    for name, path in modules.items():
        for target in imports_of(path, modules):
            if within(target, "rainstream.cli") and not within(name, "rainstream.cli"):
                wrong.append(f"{name} -> {target} (only the CLI may import the CLI)")
            for package, banned in FORBIDDEN.items():
                if within(name, package):
                    wrong += [f"{name} -> {target}" for b in banned if within(target, b)]
    assert wrong == []


def test_no_module_imports_itself_through_others():
    modules = all_modules()
    graph = {name: {t for t in imports_of(path, modules) if t in modules and t != name}
             for name, path in modules.items()}
    cycles = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [node, nxt]) if nxt in path
                              else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert cycles == []


def test_the_checks_see_real_imports():
    """Guard against a checker that finds nothing: known edges are read."""
    modules = all_modules()
    assert "rainstream.engine.derainer" in imports_of(modules["rainstream.engine"], modules)
    assert "rainstream.pipeline.runner" in imports_of(modules["rainstream.pipeline.video"], modules)
    assert "rainstream.typed_config" in imports_of(modules["rainstream.training.config"], modules)


HEAVY = ("torch", "av", "cv2", "ray")


def _imported_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    line = [x for x in done.stdout.splitlines() if x.startswith("HEAVY:")][-1]
    return [m for m in line[len("HEAVY:"):].split(",") if m]


def test_help_and_import_rainstream_load_no_torch_av_or_cv2():
    help_code = ("from rainstream.cli.main import main\n"
                 "for argv in (['--help'], ['run', '--help'], ['bench', '--help']):\n"
                 "    try:\n        main(argv)\n    except SystemExit:\n        pass")
    assert _imported_after(help_code) == []
    assert _imported_after("import rainstream\nrainstream.__all__, dir(rainstream), rainstream.RainstreamError") == []
    # and the lazy names really resolve
    assert _imported_after("import rainstream\nrainstream.Derainer") == ["torch"]


def test_public_api_lists_what_it_offers():
    import rainstream

    for name in ("load_model", "list_models", "derain", "stream", "Derainer", "EngineConfig", "RainstreamError"):
        assert name in rainstream.__all__ and name in dir(rainstream)
        assert getattr(rainstream, name) is not None
    assert "nerd_rain_tiny" in [m.name for m in rainstream.list_models()]


def test_readme_quick_start_is_two_commands_and_installs_the_cpu_wheel():
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [b.strip() for b in quick.split("```bash")[1:]]
    commands = [b.split("```")[0].strip() for b in blocks]
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    assert "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in commands[0]
    assert "rainstream run samples/rainy_path.mp4" in commands[0] and "pytest" in commands[1]
    assert "--device cuda" in quick and "../shared" in quick  # the GPU way, and what the tests need
