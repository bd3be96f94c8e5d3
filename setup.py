"""Optional mypyc build of the per-request modules; pyproject.toml holds all the metadata.

    pip install .                                       # pure Python (the default)
    PAYWALL_COMPILE=1 pip wheel --no-deps -w DIR .      # a compiled wheel, built in a temp dir

Without PAYWALL_COMPILE=1 this adds nothing: the package stays pure Python and needs no
compiler. With it, the modules in COMPILED are compiled by mypyc (mypy and the runtime
dependencies are added to the isolated build environment by build_backend.py; gcc and
the Python headers must be installed). All build output goes to a temporary directory,
never into the source tree, so no compiled module can shadow a .py file here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

from setuptools import setup

# The modules on the per-request path (see docs/performance.md). Not compiled: native (a
# shim), and what runs once or off the request path (cli, schema, yamlsource, connection,
# django, demo).
COMPILED = [
    "analytics/endpoints",
    "analytics/keys",
    "analytics/recorder",
    "analytics/refs",
    "analytics/storewatch",
    "batch",
    "config",
    "crawlers",
    "deadline",
    "decision",
    "entitlements",
    "exchange",
    "headers",
    "hidden",
    "html",
    "identity",
    "jsonld",
    "metering",
    "middleware",
    "names",
    "overload",
    "periods",
    "prompts",
    "resp",
    "responder",
    "rewrite",
    "routing",
    "settings",
    "shapes",
    "signing",
    "store",
    "summary",
    "teaser",
]


def compiled() -> None:
    try:
        from mypyc.build import mypycify
    except ImportError:
        raise SystemExit("PAYWALL_COMPILE=1 needs mypy (mypyc) in the build environment") from None

    scratch = tempfile.mkdtemp(prefix="paywall-mypyc-")
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    setup(
        ext_modules=mypycify(
            [f"paywall/{name}.py" for name in COMPILED],
            group_name="paywall",  # the shared library is paywall__mypyc.*.so
            opt_level=os.environ.get("PAYWALL_COMPILE_OPT", "3"),
            # relative: setuptools refuses absolute paths among an extension's sources
            target_dir=os.path.relpath(os.path.join(scratch, "mypyc")),
        ),
        options={"build": {"build_base": os.path.join(scratch, "build")}},
    )


# Metadata steps (egg_info, dist_info, sdist) also run this file; only a build compiles.
BUILDS = {"build", "build_ext", "bdist_wheel", "install"}
EDITABLE = {"editable_wheel", "develop"}

if os.environ.get("PAYWALL_COMPILE") == "1" and EDITABLE & set(sys.argv[1:]):
    # An editable install would put the compiled modules beside the .py files.
    raise SystemExit("PAYWALL_COMPILE=1 builds wheels only; an editable install is pure Python")
if os.environ.get("PAYWALL_COMPILE") == "1" and BUILDS & set(sys.argv[1:]):
    compiled()
else:
    setup()
