#!/usr/bin/env bash
# The test suite against the mypyc-compiled build (setup.py): build the wheel from this
# checkout's tracked files, install it with the test extra into a fresh venv, and run the
# tests from a copy without the package's sources, so every `paywall` import is the
# installed, compiled one. Needs gcc and the Python headers; about 5 minutes on 2 cores.
#
#   scripts/test_compiled.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

git ls-files -z | xargs -0 tar -cf - | tar -xf - -C "$work" --one-top-level=src
PAYWALL_COMPILE=1 python3 -m pip wheel -q --no-deps -w "$work/wheels" "$work/src"
wheel=$(ls "$work"/wheels/paywall-*.whl)
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --upgrade pip
"$work/venv/bin/pip" install -q "${wheel}[test]"

cp -r "$work/src" "$work/run"
# The tests' `import paywall` must find the installed build: without its .py files the
# folder left here (data files some tests read) is no package and does not shadow it.
find "$work/run/paywall" -name '*.py' -delete
cd "$work/run"
"$work/venv/bin/python" - <<'PY'
import paywall.middleware, paywall.store
for module in (paywall.middleware, paywall.store):
    assert module.__file__.endswith(".so"), f"{module.__name__} is not compiled: {module.__file__}"
print("testing the compiled build:", paywall.middleware.__file__)
PY
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
