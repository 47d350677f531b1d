"""The data a group of events carries through the engine: read once per group, handed step to step."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from bx_app.integration.planner import EventFacts, Needs, Plan
from bx_app.reference_data import PlanningReference
from bx_app.typed_settings import Settings


@dataclass(eq=False)
class Work:
    """One event on its way through the shared batches."""

    event_id: int
    facts: EventFacts
    attempts: int
    written: dict | None
    needs: Needs | None = None
    found: dict = field(default_factory=dict)   # what the lookup read for this event
    plan: Plan | None = None
    status: str | None = None                   # set once the event's fate is decided
    start: dict | None = None                   # a chat's finish when created at start: {"type", "id"} to comment on


@dataclass
class Group:
    """What every event of a group shares, computed once: the portal, the settings, the reference data."""

    portal_id: int
    credential_id: int
    typed_settings: Settings                    # parsed once by the store
    settings: dict                              # its plain shape, which the planner reads (see planner_settings)
    lang: str
    zone: tzinfo                                # the UIS account's zone: UIS local times are in it
    crm_mode: int | None
    installer_id: int | None
    portal_url: str
    reference: PlanningReference
    # Retries decided while the group runs, by delay in seconds: scheduled together when it ends.
    retries: dict[int, list[int]] = field(default_factory=dict)
    statuses: dict[int, str] = field(default_factory=dict)
    requests: int = 0                           # Bitrix24 requests the group sent
