"""`sam build` works on a machine with no Docker and no Python 3.13, and builds the right layer.

The layer is built by layers/Makefile (pip with --platform manylinux2014_aarch64), so this is the
slow test of the suite: it downloads wheels (from the pip cache after the first run).
"""

from __future__ import annotations

import ast
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from template_support import ROOT, TEMPLATE, explain, run, sam

pytestmark = pytest.mark.slow

FUNCTIONS = (
    "KeyEventsFunction",
    "SweepFunction",
    "SweepWorkerFunction",
    "SlackActionsFunction",
    "ApprovedActionsFunction",
)
# What the Lambda Python runtime provides: the layer must not ship it, and may import it.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3"}
NEVER_SHIPPED = (
    "moto",
    "boto3",
    "botocore",
    "s3transfer",
    "pytest",
    "_pytest",
    "rich",
    "yaml",
    "keywatch/cli",
    "keywatch/cli.py",
    "keywatch/simulator.py",
    "keywatch/render.py",
)
EM_AARCH64 = 183
LAYER_BUDGET_MB = 40  # unzipped; Lambda allows 250 MB for the function and all its layers


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("sam")
    started = time.monotonic()
    result = run(
        [
            sam(),
            "build",
            "--template",
            str(TEMPLATE),
            "--build-dir",
            str(out / "build"),
            "--cache-dir",
            str(out / "cache"),
        ],
        timeout=540,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, explain(result)
    assert "--use-container" not in " ".join(result.args)
    sys.stderr.write(f"\nsam build: {elapsed:.1f} s\n")
    yield out / "build"


@pytest.fixture(scope="module")
def site(build: Path) -> Path:
    python = build / "KeywatchLayer" / "python"
    assert python.is_dir(), f"the layer has no python/ directory: {sorted(p.name for p in build.iterdir())}"
    return python


def test_given_no_docker_when_sam_builds_then_every_function_is_its_handler_only(build: Path) -> None:
    for name in FUNCTIONS:
        files = sorted(p.name for p in (build / name).iterdir())
        assert files == ["app.py"], f"{name} ships {files}: keywatch and its dependencies belong in the layer"


def test_given_the_layer_when_built_then_it_holds_keywatch_and_its_runtime_dependencies(site: Path) -> None:
    for needed in (
        "keywatch/engine.py",
        "keywatch/observability.py",
        "keywatch/adapters/kms.py",
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "pydantic",
        "pydantic_core",
        "slack_sdk",
    ):
        assert (site / needed).exists(), f"the layer lacks {needed}"


def test_given_the_layer_when_built_then_pydantic_core_is_compiled_for_arm64_python_3_13(site: Path) -> None:
    binaries = list((site / "pydantic_core").glob("_pydantic_core*.so"))
    assert [b.name for b in binaries] == ["_pydantic_core.cpython-313-aarch64-linux-gnu.so"]
    for so in site.rglob("*.so"):
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF", f"{so} is not an ELF file"
        machine = int.from_bytes(header[18:20], "little")
        assert machine == EM_AARCH64, f"{so.relative_to(site)} is built for machine {machine}, not aarch64"


@pytest.mark.parametrize("unwanted", NEVER_SHIPPED)
def test_given_the_layer_when_built_then_it_leaves_out_tests_simulator_and_the_runtime_s_own(
    site: Path, unwanted: str
) -> None:
    assert not (site / unwanted).exists(), f"the layer ships {unwanted}"
    assert not list(site.glob(f"{unwanted}-*.dist-info")), f"the layer ships {unwanted}'s metadata"


def test_given_the_layer_when_built_then_it_fits_its_budget(site: Path) -> None:
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    sys.stderr.write(f"\nKeywatchLayer: {size / 1e6:.1f} MB unzipped\n")
    assert size < LAYER_BUDGET_MB * 1e6, f"the layer is {size / 1e6:.1f} MB unzipped"


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Top-level names a module imports, anywhere in it, except under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


def test_given_the_built_code_when_it_imports_then_only_the_layer_the_runtime_or_stdlib_has_it(
    build: Path, site: Path
) -> None:
    available = RUNTIME_PROVIDED | set(sys.stdlib_module_names) | {"keywatch", "__future__"}
    available |= {p.name.removesuffix(".py") for p in site.iterdir()}
    modules = [*site.joinpath("keywatch").rglob("*.py"), *(build / name / "app.py" for name in FUNCTIONS)]
    missing = [
        f"{m.relative_to(build)}:{line} imports {name}"
        for m in modules
        for name, line in _imports(m)
        if name not in available
    ]
    assert not missing, "these imports would fail in Lambda:\n" + "\n".join(missing)


def test_given_the_layer_pins_when_compared_with_pyproject_then_each_is_within_its_range() -> None:
    from packaging.requirements import Requirement

    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        pytest.fail("Python 3.11 or newer is needed (tomllib)")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    ranges = {Requirement(r).name.lower().replace("_", "-"): Requirement(r).specifier for r in project}
    pins = [
        Requirement(line)
        for line in (ROOT / "layers" / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert all(re.fullmatch(r"==[\w.]+", str(p.specifier)) for p in pins), "pin every layer requirement (==)"
    for pin in pins:
        name = pin.name.lower().replace("_", "-")
        version = str(pin.specifier).removeprefix("==")
        if name in ranges:
            assert ranges[name].contains(version), f"layer pins {name}=={version}, pyproject asks {ranges[name]}"
    shipped = {p.name.lower().replace("_", "-") for p in pins}
    for runtime_dep in ("aws-lambda-powertools", "pydantic", "slack-sdk"):
        assert runtime_dep in shipped, f"the layer does not ship {runtime_dep}"
    assert "boto3" not in shipped and "botocore" not in shipped, "boto3 comes with the Lambda runtime"
