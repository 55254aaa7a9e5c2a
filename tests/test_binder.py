"""binder/: what mybinder (repo2docker) builds the project from.

Binder itself cannot run here, so these tests check what can be checked offline: the files
parse the way repo2docker reads them, they agree with pyproject.toml, and postBuild runs
(in its dry-run mode, and its pip command against the real project with --dry-run). The
online check, that the whole requirement set resolves from PyPI, is binder/check.sh
(``make binder-check``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib; pip vendors the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# The pip options a requirements file may carry here, each taking a URL.
INDEX_OPTIONS = {"--extra-index-url", "--index-url", "--find-links", "-f"}


def requirement_lines(path: Path) -> tuple[list[tuple[str, str]], list[Requirement]]:
    """(options, requirements) of a pip requirements file; comments and blanks dropped."""
    options, requirements = [], []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if line.startswith("-"):
            name, _, value = line.replace("=", " ", 1).partition(" ")
            options.append((name, value.strip()))
        else:
            requirements.append(Requirement(line))  # raises InvalidRequirement on a bad line
    return options, requirements


def pyproject_dependencies() -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, PYPROJECT["dependencies"])}


def dry_run_postbuild(cwd: Path) -> list[tuple[Path, list[str]]]:
    """Run binder/postBuild with MM_BINDER_DRY_RUN=1 from ``cwd``: [(folder, command)]."""
    done = subprocess.run(["bash", str(BINDER / "postBuild")], cwd=cwd, capture_output=True,
                          text=True, timeout=30, env={**os.environ, "MM_BINDER_DRY_RUN": "1"})
    assert done.returncode == 0, done.stderr
    commands = []
    for line in done.stdout.splitlines():
        m = re.fullmatch(r"\[dry run in (.+?)\] (.+)", line)
        assert m, f"postBuild printed something that is not a dry-run command: {line!r}"
        commands.append((Path(m.group(1)), shlex.split(m.group(2))))
    return commands


def test_requirements_parse_and_take_torch_from_the_cpu_index():
    options, requirements = requirement_lines(BINDER / "requirements.txt")
    for name, value in options:
        assert name in INDEX_OPTIONS, f"binder/requirements.txt: unexpected option {name}"
        assert value.startswith("https://"), f"{name} needs an https URL, got {value!r}"
    # Extra, not the only index: everything else still comes from PyPI.
    assert ("--extra-index-url", TORCH_CPU_INDEX) in options
    names = {canonicalize_name(r.name) for r in requirements}
    assert {"torch", "torchvision"} <= names


def test_binder_pins_agree_with_pyproject():
    """Binder installs torch/torchvision before the project: the same specifiers, and the
    CPU builds (local versions like 2.5.1+cpu) must satisfy pyproject's, or `pip install .`
    would swap them for PyPI's CUDA wheels."""
    deps = pyproject_dependencies()
    _, requirements = requirement_lines(BINDER / "requirements.txt")
    for req in requirements:
        name = canonicalize_name(req.name)
        assert name in deps, f"binder installs {req.name}, which pyproject.toml does not need"
        assert req.specifier == deps[name].specifier, (
            f"{req.name}: binder has {req.specifier or 'any'}, pyproject {deps[name].specifier or 'any'}")
        installed = Version(metadata.version(req.name))
        cpu_build = Version(f"{installed.public}+cpu")
        assert deps[name].specifier.contains(cpu_build), f"{cpu_build} fails {deps[name]}"


def test_runtime_python_is_one_the_project_supports():
    (line,) = [x.strip() for x in (BINDER / "runtime.txt").read_text().splitlines() if x.strip()]
    m = re.fullmatch(r"python-(\d+)\.(\d+)", line)
    assert m, f"runtime.txt must read python-X.Y, got {line!r}"
    requires = SpecifierSet(PYPROJECT["requires-python"])
    assert requires.contains(f"{m.group(1)}.{m.group(2)}.0"), f"{line} fails requires-python {requires}"
    # ruff's target version is the oldest supported; Binder must not be older than it.
    assert (int(m.group(1)), int(m.group(2))) >= (3, 10)


def test_apt_txt_names_packages_the_way_repo2docker_reads_them():
    # repo2docker drops everything after '#', then accepts only plain package names.
    names = [line.partition("#")[0].strip() for line in (BINDER / "apt.txt").read_text().splitlines()]
    names = [n for n in names if n]
    assert names
    for name in names:
        assert re.fullmatch(r"[a-z0-9.+-]+", name), f"apt.txt: {name!r} is not a package name"


@pytest.mark.parametrize("script", ["postBuild", "check.sh"])
def test_scripts_are_bash_that_stops_on_errors(script):
    path = BINDER / script
    text = path.read_text()
    # repo2docker runs postBuild as a shell script only with this shebang, and does not stop
    # the build on a failing command unless the script says so.
    assert text.startswith("#!/bin/bash\n")
    assert re.search(r"^set -e", text, re.MULTILINE)
    assert path.stat().st_mode & stat.S_IXUSR
    done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def test_postbuild_installs_the_project_from_the_repository_root(tmp_path):
    # Run from elsewhere: the script finds the repository root by itself.
    commands = dry_run_postbuild(tmp_path)
    installs = [(where, cmd) for where, cmd in commands if cmd[:4] == ["python", "-m", "pip", "install"]]
    assert len(installs) == 1, commands
    where, cmd = installs[0]
    assert where.resolve() == ROOT
    targets = [a for a in cmd[4:] if not a.startswith("-")]
    assert targets == ["."]
    # `.` brings every runtime dependency of pyproject.toml; none may need anything but an
    # index (no direct URLs or local paths that Binder could not reach).
    assert "-e" not in cmd and "--no-deps" not in cmd
    assert all(r.url is None for r in pyproject_dependencies().values())


def test_postbuild_pip_command_resolves_the_project_offline(tmp_path):
    """The exact command postBuild runs, made harmless: --dry-run, no index, no deps."""
    ((where, cmd),) = dry_run_postbuild(tmp_path)
    report = tmp_path / "report.json"
    args = [sys.executable, *cmd[1:], "--dry-run", "--no-deps", "--no-index",
            "--no-build-isolation", "--quiet", "--report", str(report)]
    done = subprocess.run(args, cwd=where, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    (item,) = json.loads(report.read_text())["install"]
    assert canonicalize_name(item["metadata"]["name"]) == canonicalize_name(PYPROJECT["name"])
    assert item["metadata"]["version"] == PYPROJECT["version"]
    # What pip would install with the dependencies: exactly pyproject's list.
    wanted = {canonicalize_name(Requirement(r).name) for r in item["metadata"]["requires_dist"]
              if "extra ==" not in r}
    assert wanted == set(pyproject_dependencies())
