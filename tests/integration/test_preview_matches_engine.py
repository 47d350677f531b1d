"""The settings preview decides as the engine does: random offline settings, a fresh request, both compared.

The preview (bx_app.engine.preview) asks Bitrix24 nothing; the engine runs for real against the sandbox
portal, where the request's visitor is new (a first contact: its lookups find nothing). For every
combination the preview's pass/skip and its reason, the responsible and why, the entity and the title
equal what the engine journaled.
"""
from __future__ import annotations

from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bx_app.engine import preview as engine_preview
from bx_app.models.event import EventStatus
from bx_app.settings_store import load_settings, save_channel

SITES = ("shop.example.ru", "example.ru", "")
numbers = count(1)

NAMES = ("Анна", "Борис", "")
name_filter = st.one_of(st.none(), st.none(), st.sampled_from(NAMES[:2]).map(lambda name: {
    "op": "and", "items": [{"field": "visitor_name", "operator": "eq", "value": name}]}))
rules = st.lists(st.builds(lambda name, user: {
    "filter": {"op": "and", "items": [{"field": "visitor_name", "operator": "eq", "value": name}]},
    "responsible": {"type": "employee"} if user is None else {"type": "user", "user_id": user}},
    st.sampled_from(NAMES[:2]), st.sampled_from((None, 1, 5, 7))), max_size=2)
options = st.fixed_dictionaries({
    "filter": name_filter,
    "responsible_rules": rules,
    "use_employee_match": st.booleans(),
    "default_responsible_id": st.sampled_from((None, 1, 5)),
    "contact_kinds": st.sampled_from(("both", "first", "repeat")),
    "repeat_action": st.sampled_from(("create", "attach")),
    "entity": st.sampled_from(("lead_deal", "activity", "lead_deal_activity")),
    "lead_deal": st.fixed_dictionaries({"type": st.sampled_from(("lead", "deal")), "category_id": st.just(None),
                                        "stage_id": st.just(None)}),
    "create_on": st.sampled_from(("arrived", "arrived", "arrived", "processed")),
    "pass_without_contacts": st.booleans(),
    "notify": st.booleans(),
    "title_template": st.fixed_dictionaries({
        "lead": st.sampled_from(("Заявка {site}: {visitor_name}", "{visitor_name} ({phone})")),
        "deal": st.sampled_from(("Сделка {site}", "Офлайн заявка с сайта {site}: {visitor_name}")),
        "activity": st.sampled_from(("Заявка №{id}", "Офлайн заявка UIS №{id}"))}),
})
requests = st.fixed_dictionaries({
    "site_domain_name": st.sampled_from(SITES),
    "visitor_name": st.sampled_from(NAMES),
    "with_phone": st.booleans(),
    "with_email": st.booleans(),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=options, request=requests)
def test_P1_preview_decides_as_the_engine_for_a_first_contact(world, chosen, request):
    n = next(numbers)
    save_channel(world.credential_id, "offline", True, chosen)
    draft = load_settings(world.credential_id).offline.as_dict()
    fields = {"site_domain_name": request["site_domain_name"], "visitor_name": request["visitor_name"],
              "visitor_phone_number": f"7903{n:07d}" if request["with_phone"] else "",
              "visitor_email": f"v{n}@example.org" if request["with_email"] else ""}
    event_id = world.record("offline_message", "arrived", world.offline(1000 + n, **fields))

    [seen] = [p for p in engine_preview.preview(world.credential_id, "offline", draft) if p.event.id == event_id]
    world.run(event_id)
    event = world.event(event_id)

    decision = seen.decision
    if not decision.passed:
        assert (event.status, event.reason) == (EventStatus.SKIPPED, decision.reason)
        return
    assert event.status == EventStatus.DONE, (event.reason, event.last_error)
    journaled = event.result["plan"]
    assert journaled["responsible_id"] == decision.responsible_id
    assert journaled["responsible_reason"] == decision.responsible_reason
    assert journaled["entity"] == decision.entity
    assert journaled["title"] == decision.title
