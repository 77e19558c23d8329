"""BUILD must name every module, binary and test file in the tree, and every console script of setup.cfg.

Bazel's Starlark is close enough to Python that the BUILD file can be evaluated with stand-ins for the rules, which
is what this check does (CI cannot fetch Bazel's rules offline; see the README's "Bazel" section).
"""
import configparser
import pathlib

from nli_app import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
LIBRARY_PACKAGES = ("nli_app", "optimizers", "serving")


def evaluate_build(text):
    """Runs a BUILD file's text with recording stand-ins for the rules; returns the targets as dicts."""
    targets = []

    def rule(kind):
        def record(**kwargs):
            targets.append(dict(kwargs, kind=kind))
        return record

    def glob(patterns, exclude=()):
        return sorted({str(p.relative_to(ROOT)) for pattern in patterns for p in ROOT.glob(pattern)} - set(exclude))

    namespace = {kind: rule(kind) for kind in ("py_library", "py_binary", "py_test", "filegroup")}
    namespace.update(glob=glob, load=lambda *a, **k: None, package=lambda **k: None)
    exec(compile(text, "BUILD", "exec"), namespace)  # noqa: S102 - this repository's own file
    return targets


def console_scripts():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict((part.strip() for part in line.split("=")) for line in lines)


def problems(targets):
    """Everything BUILD fails to name, or names wrongly, as readable lines."""
    def srcs(kind):
        return {src for t in targets if t["kind"] == kind for src in t.get("srcs", ())}

    found = []
    modules = {str(p.relative_to(ROOT)) for pkg in LIBRARY_PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    found += [f"no py_library for {m}" for m in sorted(modules - srcs("py_library"))]
    tests = {str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")}
    found += [f"no py_test for {t}" for t in sorted(tests - srcs("py_test"))]
    benches = {str(p.relative_to(ROOT)) for p in (ROOT / "bench").glob("*.py")}
    found += [f"no py_binary for {b}" for b in sorted(benches - srcs("py_binary"))]
    binaries = {t["name"]: t for t in targets if t["kind"] == "py_binary"}
    for name, entry in sorted(console_scripts().items()):
        module = cli.BINARIES[name] if entry == f"nli_app.cli:{name}" else entry.split(":")[0]  # launcher's module
        main = module.replace(".", "/") + ".py"
        if name not in binaries:
            found.append(f"no py_binary for console script {name}")
        elif binaries[name].get("main") != main:
            found.append(f"py_binary {name} must have main = {main!r}")
    named = {s for t in targets for s in t.get("srcs", ())} | {t["main"] for t in targets if "main" in t}
    found += [f"BUILD names a missing file {s}" for s in sorted(named) if not (ROOT / s).is_file()]
    return found


def test_build_names_every_module_binary_and_test():
    assert problems(evaluate_build((ROOT / "BUILD").read_text())) == []


def test_checker_reports_what_an_incomplete_build_forgets():
    found = problems(evaluate_build(
        'py_library(name = "lib", srcs = ["nli_app/__init__.py", "nli_app/no_such_module.py"])\n'
        'py_binary(name = "large_batch", srcs = [], main = "nli_app/wrong.py")'))
    assert "no py_library for tests/conftest.py" not in found
    assert "no py_library for nli_app/nli/__init__.py" in found
    assert "no py_test for tests/test_build_file.py" in found
    assert "no py_binary for console script train_nli" in found
    assert "py_binary large_batch must have main = 'nli_app/large_batch/main.py'" in found
    assert "BUILD names a missing file nli_app/no_such_module.py" in found
