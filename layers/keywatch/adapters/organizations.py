"""AWS Organizations adapter: the member accounts the sweep enters."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from keywatch.adapters.aws import AwsClients, error_code
from keywatch.iam import needs

# The organization is not set up, or this account may not list it (not the management or a delegated
# administrator account): the sweep then covers the accounts it is given, or only its own.
NOT_AVAILABLE = frozenset({"AWSOrganizationsNotInUseException", "AccessDeniedException"})


class OrganizationsUnavailable(RuntimeError):
    """The accounts of the organization can't be listed from here."""


class OrganizationsGateway:
    def __init__(self, clients: AwsClients, region: str | None = None) -> None:
        self._clients = clients
        self._region = region or clients.home_region

    @needs("organizations:ListAccounts", scope="sweep")
    def active_accounts(self) -> list[str]:
        """IDs of every ACTIVE account in the organization (suspended and closing ones are left out)."""
        client = self._clients.home_client("organizations", self._region)
        found: list[str] = []
        try:
            for page in client.get_paginator("list_accounts").paginate():
                found += [str(a["Id"]) for a in page.get("Accounts", []) if a.get("Status", "ACTIVE") == "ACTIVE"]
        except ClientError as exc:
            if error_code(exc) in NOT_AVAILABLE:
                raise OrganizationsUnavailable(f"ListAccounts: {error_code(exc)}") from exc
            raise
        except BotoCoreError as exc:
            raise OrganizationsUnavailable(f"ListAccounts: {exc}") from exc
        if not found:  # an organization always holds its management account; moto answers [] without one
            raise OrganizationsUnavailable("ListAccounts returned no active account")
        return sorted(dict.fromkeys(found))
