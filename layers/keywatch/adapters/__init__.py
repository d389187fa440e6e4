"""The only modules that call boto3."""

import importlib

ADAPTERS = (
    "aws",
    "kms",
    "efs",
    "sns",
    "incidents",
    "organizations",
    "sqs",
    "countdowns",
    "slack",
    "deliveries",
    "index",
    "occurrences",
    "records",
    "silences",
    "approvals",
    "slack_interactions",
)


def load_all() -> None:
    """Import every adapter, so that each one's IAM declarations are registered."""
    for name in ADAPTERS:
        importlib.import_module(f"keywatch.adapters.{name}")
