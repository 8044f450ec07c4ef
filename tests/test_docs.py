"""Meta-tests of the documentation site: nothing in docs/ can drift from the code unnoticed.

The strict build itself is ``nox -s docs``; these checks run in the core suite without
mkdocs installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import mammokit
from mammokit.app.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MKDOCS_YML = ROOT / "mkdocs.yml"
BENCH_AREAS = ("preprocess", "dataset", "train_input", "decoders", "demo")


def _load_hook(name: str) -> ModuleType:
    path = DOCS / "_hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_docs_hook_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages() -> list[str]:
    """The .md files named in the ``nav:`` block of mkdocs.yml, in order."""
    text = MKDOCS_YML.read_text()
    block = re.search(r"^nav:\n((?:[ \t]+.*\n)+)", text, re.MULTILINE)
    assert block, "mkdocs.yml has no nav"
    return re.findall(r":\s*([\w./-]+\.md)\s*$", block.group(1), re.MULTILINE)


def _site_pages() -> list[str]:
    """Every page under docs/, relative; ``_``-prefixed files and folders are partials."""
    return sorted(
        p.relative_to(DOCS).as_posix()
        for p in DOCS.rglob("*.md")
        if not any(part.startswith("_") for part in p.relative_to(DOCS).parts)
    )


@pytest.fixture(scope="module")
def cli_reference() -> str:
    return str(_load_hook("cli_reference").render())


def test_mkdocs_runs_both_hooks() -> None:
    text = MKDOCS_YML.read_text()
    for name in ("cli_reference", "bench_sections"):
        assert f"- docs/_hooks/{name}.py" in text
        assert (DOCS / "_hooks" / f"{name}.py").is_file()


def test_cli_page_holds_the_generated_reference_marker() -> None:
    marker = _load_hook("cli_reference").MARKER
    assert (DOCS / "cli.md").read_text().count(marker) == 1


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_reference_covers_every_command(cli_reference: str, command: str) -> None:
    assert f"## `mammokit {command}`" in cli_reference
    assert f"usage: mammokit {command} " in cli_reference


def test_cli_reference_shows_every_option_of_every_command(cli_reference: str) -> None:
    subcommands = _load_hook("cli_reference").subcommands(build_parser())
    assert set(subcommands) == set(COMMANDS)
    for name, parser in subcommands.items():
        for action in parser._actions:
            for option in action.option_strings:
                assert option in cli_reference, f"mammokit {name} {option} is not in the reference"


def test_cli_reference_is_the_parser_help(cli_reference: str) -> None:
    # The page is the parser's own text, not a copy: a changed help string changes it.
    preprocess = _load_hook("cli_reference").subcommands(build_parser())["preprocess"]
    first_help = next(a.help for a in preprocess._actions if a.dest == "images")
    assert first_help and first_help in cli_reference


def test_every_page_is_in_the_nav() -> None:
    nav = _nav_pages()
    assert len(nav) == len(set(nav)), "a page is listed twice in the nav"
    missing = sorted(set(_site_pages()) - set(nav))
    assert not missing, f"pages not in the mkdocs.yml nav: {missing}"


def test_every_nav_entry_exists() -> None:
    absent = [page for page in _nav_pages() if not (DOCS / page).is_file()]
    assert not absent, f"nav entries without a file: {absent}"


def test_the_required_pages_are_in_the_nav() -> None:
    nav = set(_nav_pages())
    for page in (
        "index.md",
        "quickstart.md",
        "concepts.md",
        "cli.md",
        "api.md",
        "plugin-guide.md",
        "hooks.md",
        "benchmarks.md",
        "decisions.md",
    ):
        assert page in nav


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)]


def test_readme_has_the_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("mammokit demo")
    assert commands[1].endswith("&& nox")


@pytest.mark.parametrize("index", [0, 1])
def test_readme_commands_appear_verbatim_in_the_quickstart(index: int) -> None:
    command = _readme_commands()[index]
    quickstart = (DOCS / "quickstart.md").read_text()
    assert f"```bash\n{command}\n```" in quickstart


def test_quickstart_commands_use_only_existing_flags() -> None:
    # Every `mammokit <command> --flag` line in the quickstart parses with the real parser.
    parser = build_parser()
    quickstart = (DOCS / "quickstart.md").read_text()
    lines = re.findall(r"^mammokit (\w+) (--.*)$", quickstart, re.MULTILINE)
    lines = [(cmd, rest) for cmd, rest in lines if cmd in COMMANDS]
    assert {cmd for cmd, _ in lines} >= {"synth", "preprocess", "train", "predict", "evaluate"}
    for command, rest in lines:
        args = parser.parse_args([command, *rest.split()])
        assert args.command == command


def test_snippet_includes_exist() -> None:
    for page in DOCS.rglob("*.md"):
        for included in re.findall(r'^--8<-- "([^"]+)"$', page.read_text(), re.MULTILINE):
            assert (ROOT / included).is_file(), f"{page.name} includes missing {included}"


def test_api_page_members_exist() -> None:
    # mkdocstrings silently skips a listed member that no longer exists; this does not.
    text = (DOCS / "api.md").read_text()
    directives = re.findall(r"^::: ([\w.]+)\n((?:    .*\n)*)", text, re.MULTILINE)
    assert directives
    for module_name, options in directives:
        module = importlib.import_module(module_name)
        listed = re.search(r"members: \[([^\]]*)\]", options)
        for member in (m.strip() for m in (listed.group(1).split(",") if listed else [])):
            assert hasattr(module, member), f"api.md lists {module_name}.{member}"


def test_api_page_documents_the_public_api() -> None:
    text = (DOCS / "api.md").read_text()
    assert re.search(r"^::: mammokit\n(    .*\n)*      filters: public\n", text, re.MULTILINE)


@pytest.mark.parametrize("name", mammokit.__all__)
def test_every_public_name_appears_in_the_api_reference(name: str) -> None:
    # mkdocstrings lists the classes and functions of __all__ that have a docstring; any
    # other public name must be described on the page by hand.
    obj = getattr(mammokit, name)
    if inspect.isclass(obj) or inspect.isfunction(obj):
        assert obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__, (
            f"mammokit.{name} has no docstring, so the API reference leaves it out"
        )
    else:
        assert f"### `{name}`" in (DOCS / "api.md").read_text()


def test_benchmarks_page_records_figures_for_every_area() -> None:
    # The figures are written into benchmarks.md itself (a marker is only a slot for a
    # section file still to be folded in); each area names the command that made them.
    text = (DOCS / "benchmarks.md").read_text()
    for area in BENCH_AREAS:
        command = "mammokit demo" if area == "demo" else f"benchmarks/{area}.py"
        assert command in text, f"no figures recorded for {area}"
    assert text.count("Command:") >= len(BENCH_AREAS)
    assert "No figures recorded yet" not in text


def test_every_bench_section_file_is_included() -> None:
    text = (DOCS / "benchmarks.md").read_text()
    for path in DOCS.glob("_bench_*.md"):
        area = path.stem.removeprefix("_bench_")
        assert f"<!-- mammokit-bench: {area} -->" in text, f"{path.name} is not included"


def test_bench_hook_includes_a_section_file(tmp_path: Path) -> None:
    hook = _load_hook("bench_sections")
    (tmp_path / "_bench_dataset.md").write_text(
        "## Workers\n\n| workers | images/s |\n|---|---|\n| 2 | 3.1 |\n\n```\n# comment\n```\n"
    )
    page = (
        "## Dataset\n\n<!-- mammokit-bench: dataset -->\n\n"
        "## Demo\n\n<!-- mammokit-bench: demo -->\n"
    )
    rendered = hook.render(page, tmp_path)
    assert "| 2 | 3.1 |" in rendered
    assert "\n### Workers\n" in rendered  # nested under the page's own "## Dataset"
    assert "\n# comment\n" in rendered  # code is left alone
    assert hook.NOT_YET in rendered.split("## Demo", 1)[1]
    assert "mammokit-bench" not in rendered


def test_hook_reference_is_linked_from_the_plugin_guide() -> None:
    guide = (DOCS / "plugin-guide.md").read_text()
    from mammokit.plugins.hookspecs import REGISTRY_HOOKS

    for hook_name in REGISTRY_HOOKS:
        assert f"(hooks.md#{hook_name})" in guide
