"""What mm_widgets imports is declared in pyproject.toml, what it reaches into is bounded, and
exactly one OpenCV distribution provides ``cv2`` (scripts/opencv-contrib, run by every make
target that installs)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: every wheel that installs the cv2 folder
OPENCV = {"opencv-python", "opencv-python-headless", "opencv-contrib-python",
          "opencv-contrib-python-headless"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements() -> dict[str, Requirement]:
    return {canonical(r.name): r for r in map(Requirement, PROJECT["dependencies"])}


def imported_modules() -> dict[str, str]:
    """Top-level module -> the first file importing it, over every module of the package
    (lazy imports inside functions included)."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "mm_widgets").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def test_every_module_the_package_imports_is_a_declared_dependency():
    declared = set(requirements())
    providers = packages_distributions()
    third_party = {m: f for m, f in imported_modules().items()
                   if m not in sys.stdlib_module_names and m not in ("mm_widgets", "__future__")}
    assert {"cv2", "torch", "ultralytics", "yaml"} <= set(third_party)  # the scan sees them
    undeclared = {}
    for module, where in sorted(third_party.items()):
        dists = {canonical(d) for d in providers.get(module, [])}
        if module == "cv2":
            # declared as opencv-python (what ultralytics brings too); scripts/opencv-contrib
            # may have replaced it with the contrib build of the same version
            ok = "opencv-python" in declared and dists and dists <= OPENCV
        else:
            ok = bool(dists & declared)
        if not ok:
            undeclared[module] = (where, sorted(dists))
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_ultralytics_is_bounded_above_and_the_installed_one_is_inside():
    """yolo_net.py reaches into ultralytics' internals (nn.tasks.DetectionModel,
    torch_safe_load, cfg/models/11/yolo11.yaml): a new minor version may move them."""
    spec = requirements()["ultralytics"].specifier
    assert any(s.operator in ("<", "<=") for s in spec), f"ultralytics{spec} has no upper bound"
    assert spec.contains(Version(version("ultralytics"))), (version("ultralytics"), str(spec))


#: Run in the interpreter under test: which installed distributions write into cv2/, and
#: whether the files of each on disk are the ones its RECORD lists (hash for hash).
CV2_STATE = r"""
import base64, hashlib, json
from importlib.metadata import distributions
import cv2
out = {"cv2": cv2.__version__, "csrt": hasattr(cv2, "TrackerCSRT_create"), "owners": {}}
for d in distributions():
    files = [f for f in (d.files or []) if str(f).startswith("cv2/") and f.hash]
    if not files:
        continue
    changed = []
    for f in files:
        data = f.locate().read_bytes() if f.locate().exists() else b""
        digest = base64.urlsafe_b64encode(hashlib.new(f.hash.mode, data).digest()).rstrip(b"=")
        if digest.decode() != f.hash.value:
            changed.append(str(f))
    out["owners"][d.metadata["Name"]] = {"version": d.version, "files": len(files),
                                         "changed": changed[:5]}
print(json.dumps(out))
"""


def cv2_state(python: str = sys.executable) -> dict:
    import json

    done = subprocess.run([python, "-c", CV2_STATE], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_exactly_one_opencv_distribution_provides_cv2_intact():
    state = cv2_state()
    owners = state["owners"]
    assert len(owners) == 1, (
        f"several distributions write into cv2/: {sorted(owners)}; run scripts/opencv-contrib "
        f"{sys.executable}")
    ((name, owner),) = owners.items()
    assert canonical(name) in OPENCV
    assert owner["changed"] == [], f"{name}'s files were overwritten: {owner['changed']}"
    assert owner["version"].startswith(state["cv2"]), (owner["version"], state["cv2"])
    if canonical(name) == "opencv-contrib-python-headless":
        assert state["csrt"]  # what the contrib build is there for


@pytest.mark.parametrize("target", ["test", "test-long", "demo", "lab", "bench", "lint"])
def test_every_make_target_that_installs_runs_the_opencv_script_after(target):
    dry = subprocess.run(["make", "-B", "-n", target], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    installs = [k for k, line in enumerate(dry) if "pip install" in line and "-e " in line]
    assert installs
    assert all(any("scripts/opencv-contrib" in line for line in dry[k + 1:]) for k in installs)
