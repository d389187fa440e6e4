"""The cold-start benchmark starts each handler as a default deployment of template.yaml would: with every
variable the template's Globals set, valued as the template's defaults give them."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from template_support import ROOT


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_cold_start", ROOT / "benchmarks" / "bench_cold_start.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _default(value: Any, parameters: dict[str, Any]) -> Any:
    """A Globals value as a default deployment gives it, when it is a literal or a plain !Ref of a parameter."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
        return str(parameters[value["Ref"]].get("Default", ""))
    return value


def test_given_the_template_globals_when_the_benchmark_starts_a_handler_then_it_sets_every_variable(
    template: dict[str, Any],
) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    parameters = template["Parameters"]
    bench = _bench()
    for name in bench.HANDLERS:
        env = bench.lambda_env(name, Path("/tmp"))
        assert set(variables) <= set(env), f"{name}: the benchmark leaves out {sorted(set(variables) - set(env))}"
        for variable, value in variables.items():
            default = _default(value, parameters)
            if isinstance(default, str) and not (name == "slack_actions" and variable.startswith("KEYWATCH_")):
                assert env[variable] == default, f"{name}: {variable} is {env[variable]!r}, not {default!r}"


def test_given_the_template_when_a_function_starts_then_pydantic_looks_for_no_plugins(template: dict[str, Any]) -> None:
    # keywatch uses none: looking for them reads every installed distribution's entry points at cold start
    assert template["Globals"]["Function"]["Environment"]["Variables"]["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
