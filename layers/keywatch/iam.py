"""IAM permissions, declared next to the code that needs them.

Every adapter method that calls AWS is decorated with :func:`needs`. The template test
(tests/template/test_iam.py) checks that ``template.yaml`` grants exactly what is declared here,
both ways, and that every changing action is scoped by resource or condition.

Scopes:
- ``read``:      look at keys and file systems (the sweep's read-only role in member accounts);
- ``remediate``: change keys and mount targets (the remediation role, scoped by tag);
- ``notify``:    publish alerts and read the Slack secret;
- ``state``:     the incidents and idempotency tables;
- ``sweep``:     list accounts and fan the sweep out;
- ``index``:     read and write the key-to-file-system index (that table only);
- ``approve``:   read the Slack signing secret, queue approved actions (approve mode's endpoint).
- ``handoff``:   queue the file systems an invocation could not finish in time (enforce mode only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Literal, TypeVar

Scope = Literal["read", "remediate", "notify", "state", "sweep", "index", "approve", "handoff"]
F = TypeVar("F", bound=Callable[..., object])

_REGISTRY: dict[str, set[str]] = defaultdict(set)


def needs(*actions: str, scope: Scope = "read") -> Callable[[F], F]:
    """Declare the IAM actions a function needs; the function itself is unchanged."""
    for action in actions:
        service, _, name = action.partition(":")
        if not service or not name or "*" in action:
            raise ValueError(f"declare exact IAM actions, not {action!r}")
    _REGISTRY[scope].update(actions)

    def mark(fn: F) -> F:
        fn.__keywatch_permissions__ = (scope, tuple(actions))  # type: ignore[attr-defined]
        return fn

    return mark


def declared(scope: Scope | None = None) -> frozenset[str]:
    """The actions the code declares, for one scope or all. Imports every module that declares some."""
    import keywatch.adapters  # noqa: F401 - the adapters register their needs on import
    from keywatch.adapters import load_all

    load_all()
    if scope is None:
        return frozenset(a for actions in _REGISTRY.values() for a in actions)
    return frozenset(_REGISTRY.get(scope, set()))


def by_scope() -> dict[str, frozenset[str]]:
    declared()
    return {scope: frozenset(actions) for scope, actions in _REGISTRY.items()}
