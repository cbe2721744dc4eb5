"""The seed's example: organizations that are registered and renamed."""

from samples.organization.domain import Organization, OrganizationRegistered, OrganizationRenamed

__all__ = ["Organization", "OrganizationRegistered", "OrganizationRenamed"]
