"""The Docker image, checked without a Docker daemon: the files the Dockerfile copies (its COPY
lines, with .dockerignore applied the way docker-py builds a context) are staged as the image's
working directory would hold them; the wheel is built from there, as the Dockerfile's `pip
install .` builds it, and installed into a fresh virtualenv, where the commands the image runs
must work. The wheel's dependencies are not downloaded again: the fresh virtualenv sees
the project's (already installed) ones, and the test checks that they satisfy the wheel's
requirements, which must be pyproject.toml's.

Not checked here (no daemon): the base image, `pip install` resolving the dependencies inside
it, and the image's layers."""

from __future__ import annotations

import importlib.metadata
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from docker.utils.build import exclude_paths
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from bounceback.cli import main

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _context() -> list[str]:
    """The files of the build context, relative to it, as docker-py reads .dockerignore."""
    ignore = ROOT / ".dockerignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return sorted(p for p in exclude_paths(str(ROOT), patterns) if (ROOT / p).is_file())


def _instructions() -> list[tuple[str, str]]:
    parsed = DockerfileParser(path=str(ROOT / "Dockerfile")).structure
    return [(i["instruction"], i["value"]) for i in parsed if i["instruction"] != "COMMENT"]


def _stage(image: Path) -> Path:
    """Lay out in `image` what the Dockerfile's COPY lines put into the image; returns the
    final WORKDIR there."""
    context = _context()
    workdir = "/"
    for kind, value in _instructions():
        if kind == "WORKDIR":
            workdir = posixpath.join(workdir, value)
        elif kind in ("COPY", "ADD"):
            *sources, dest = shlex.split(value)
            assert kind == "COPY" and not any(s.startswith("--") or set(s) & set("*?[") for s in sources), \
                f"{kind} {value}: a form this test does not model"
            target = posixpath.join(workdir, dest)
            into_directory = dest.endswith("/") or len(sources) > 1
            for source in map(posixpath.normpath, sources):
                for path in context:
                    if source == ".":
                        placed = posixpath.join(target, path)
                    elif path == source:
                        placed = posixpath.join(target, posixpath.basename(path)) if into_directory else target
                    elif path.startswith(source + "/"):
                        placed = posixpath.join(target, path[len(source) + 1:])
                    else:
                        continue
                    copy = image / placed.lstrip("/")
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / path, copy)
    return image / workdir.lstrip("/")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the image's working directory, the fresh virtualenv, the wheel)."""
    tmp = tmp_path_factory.mktemp("image")
    app = _stage(tmp / "root")
    dist = tmp / "dist"
    # built with this environment's setuptools (checked against pyproject's build requirements
    # below) rather than one fetched into an isolated build environment, as the image's pip does
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                            "-w", str(dist), "."], cwd=app, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    [wheel] = dist.glob("*.whl")
    fresh = tmp / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                              str(wheel)], capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    # the dependencies: this environment's, after the wheel's own files (a path in a .pth
    # file goes to the end of sys.path, and .pth files in that directory are not read, so the
    # project's editable install there is not seen)
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        text=True).strip())
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "project-dependencies.pth").write_text("\n".join(deps) + "\n")
    return app, fresh, wheel


def _run(fresh: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(fresh / "bin" / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_image_holds_every_package_pyproject_lists_and_the_sample_log(installed):
    app, _, _ = installed
    for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")
        assert (app / package / "__init__.py").is_file(), f"{package}/ is not copied into the image"
    assert (app / "examples" / "sample.jsonl").is_file()  # docker-compose's `publish examples/sample.jsonl`
    assert not (app / ".venv").exists() and not (app / ".git").exists() and not (app / "tests").exists()


def test_the_image_installs_the_project_alone_so_its_pins_are_pyprojects():
    runs = [value for kind, value in _instructions() if kind == "RUN"]
    assert runs == ["pip install --no-cache-dir ."]
    python = re.fullmatch(r"python:(\d+\.\d+)(-slim)?", dict(_instructions())["FROM"]).group(1)
    assert Version(python) in SpecifierSet(PYPROJECT["project"]["requires-python"])
    assert dict(_instructions())["ENTRYPOINT"] == '["bounceback"]'


def test_the_wheel_requires_what_pyproject_pins_and_this_environment_satisfies_it(installed):
    _, _, wheel = installed
    with zipfile.ZipFile(wheel) as archive:
        [name] = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    required = [Requirement(r) for r in metadata.get_all("Requires-Dist")]
    runtime = [r for r in required if r.marker is None]
    assert sorted(map(str, runtime)) == sorted(str(Requirement(r)) for r in PYPROJECT["project"]["dependencies"])
    for requirement in runtime:
        version = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(version, prereleases=True), (str(requirement), version)


def test_the_wheel_is_built_with_a_backend_pyproject_accepts():
    for requirement in map(Requirement, PYPROJECT["build-system"]["requires"]):
        assert requirement.specifier.contains(importlib.metadata.version(requirement.name)), str(requirement)


def test_the_installed_commands_come_from_the_wheel(installed, tmp_path):
    _, fresh, _ = installed
    packages = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
    where = _run(fresh, "python", "-c", f"import importlib; [print(importlib.import_module(p).__file__) for p in {packages}]",
                 cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(fresh)) for line in where.stdout.splitlines()), where.stdout


def test_bounceback_help_runs_in_the_image(installed):
    app, fresh, _ = installed
    result = _run(fresh, "bounceback", "--help", cwd=app)
    assert result.returncode == 0, result.stderr
    for command in main.list_commands(click.Context(main)):
        assert command in result.stdout


def test_bounceback_replay_of_the_sample_runs_in_the_image_and_equals_the_projects(installed, tmp_path):
    app, fresh, _ = installed
    result = _run(fresh, "bounceback", "replay", "examples/sample.jsonl", "--out", str(tmp_path / "image"), cwd=app)
    assert result.returncode == 0, result.stderr
    assert "replayed 482 events" in result.stderr
    here = CliRunner().invoke(main, ["replay", str(ROOT / "examples" / "sample.jsonl"), "--out", str(tmp_path / "here")])
    assert here.exit_code == 0
    for name in ("addresses.jsonl", "suppressions.jsonl", "contacts.jsonl", "rejected.jsonl"):
        assert (tmp_path / "image" / name).read_bytes() == (tmp_path / "here" / name).read_bytes(), name


def test_the_shipped_classification_rules_are_in_the_image(installed):
    app, fresh, _ = installed
    result = _run(fresh, "bounceback", "ingest-mail", "--dry-run", str(ROOT / "tests" / "mail" / "postfix-multi.eml"),
                  cwd=app)
    assert result.returncode == 0, result.stderr
    assert '"type":"delivery"' in result.stdout
