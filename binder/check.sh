#!/bin/bash
# binder-check: does Binder's requirement set resolve? Needs the network (PyPI), which the
# test suite does not have, so this is a separate make target, not a test.
#
# A fresh venv in a temporary folder resolves binder/requirements.txt together with the
# project (what postBuild installs) using `pip install --dry-run`: nothing is installed.
# The PyTorch CPU index (download.pytorch.org) is not reachable from every machine that can
# reach PyPI, so its index lines are filtered out and torch/torchvision resolve from PyPI
# instead: that proves the names and versions resolve, not that the +cpu wheels exist.
# Set BINDER_CHECK_KEEP_INDEX=1 to keep the PyTorch index (where it is reachable).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"

want=$(sed -n 's/^python-\([0-9.]*\).*/\1/p' binder/runtime.txt)
have=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ "$want" != "$have" ]]; then
    echo "binder-check: note: Binder runs Python $want (binder/runtime.txt), this check uses $have"
fi

# PyPI alone (or the index the caller names in PIP_INDEX_URL): no pip config files, no
# local wheel folders, which could hide a package that Binder would not find.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PYTHON" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --retries 1 --timeout 15 --upgrade pip

if [[ -n "${BINDER_CHECK_KEEP_INDEX:-}" ]]; then
    cp binder/requirements.txt "$tmp/requirements.txt"
else
    grep -v -E '^[[:space:]]*--?(extra-)?index-url.*download\.pytorch\.org' binder/requirements.txt \
        > "$tmp/requirements.txt"
    echo "binder-check: PyTorch CPU index filtered out (not reachable here);" \
         "torch and torchvision resolve from PyPI"
fi

# The report names what would be installed; --quiet keeps pip's own listing out of the way.
"$tmp/venv/bin/python" -m pip install --dry-run --quiet --retries 1 --timeout 15 \
    --report "$tmp/report.json" -r "$tmp/requirements.txt" .

"$tmp/venv/bin/python" - "$tmp/report.json" <<'PY'
import json
import sys

items = json.load(open(sys.argv[1]))["install"]
versions = {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in items}
picked = ", ".join(f"{n} {versions[n]}" for n in ("torch", "torchvision", "ultralytics", "timm")
                   if n in versions)
print(f"binder-check: OK, the requirement set resolves: {len(items)} packages would be "
      f"installed ({picked})")
PY
