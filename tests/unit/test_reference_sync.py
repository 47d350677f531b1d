"""M1 manual sync against the sandboxes: one Bitrix24 batch (+ one for user pages), UIS lists, progress, matching."""
from __future__ import annotations

import pytest

from bx_app import progress, reference_data, reference_sync
from bx_app.devkit.sandbox_world import connected_sandbox
from bx_app.extensions import db
from bx_app.models import EmployeeLink


@pytest.fixture
def world(app):
    with connected_sandbox(app) as sandbox:
        yield {"credential": sandbox.credential, "portal": sandbox.portal_state, "state": sandbox.state,
               "uis": sandbox.uis_app}


def test_M1_sync_stores_everything_with_progress(app, world):
    cid = world["credential"].id
    task_id = progress.start_task(reference_sync.TASK_KIND, reference_sync.scope_of(cid), total=6)
    result = reference_sync.sync_credential(cid, task_id)
    assert result["errors"] == {}
    counts = result["counts"]
    assert counts["users"] == 9 and counts["active_users"] == 8
    assert counts["uis_employees"] == 4 and counts["uis_channels"] == 4 and counts["uis_sites"] == 2
    assert counts["custom_fields"] == 5 and counts["pipelines"] == 3 and counts["sources"] == 12
    assert counts["matched"] == 3 and counts["unmatched"] == 1
    # the whole Bitrix24 side took one HTTP request (a batch), and one more adding the external line of
    # the UIS virtual number the portal lacked
    assert world["portal"].counters.rest_requests == 2 and counts["lines_added"] == 1
    task = progress.read(task_id)
    assert task["state"] == progress.DONE and task["percent"] == 100
    assert reference_data.active_user_ids(cid) == {1, 7, 9, 11, 12, 13, 15, 16}
    assert reference_data.b24_fields(cid, "lead")["UF_CRM_1709112233"]["listLabel"] == "Тип обращения"
    assert reference_data.crm_mode(cid) == 1
    assert [p["id"] for p in reference_data.pipelines(cid)] == [1, 2, 0]
    assert reference_data.pipelines(cid)[0]["stages"][0] == {"id": "C1:NEW", "name": "Заявка", "semantics": None}
    assert reference_data.employee_user_id(cid, 45012) == 9
    assert reference_data.employee_user_id(cid, 99999) is None
    assert {c["id"] for c in reference_data.uis_channels(cid)} >= {3101, 3102, 3103}
    assert reference_data.last_sync(cid)["counts"]["users"] == 9


def test_M1_users_beyond_one_page_take_one_more_batch(app, world):
    world["portal"].users.update({uid: {**world["portal"].users[16], "ID": str(uid), "LAST_NAME": f"Т{uid}"}
                                  for uid in range(100, 160)})
    result = reference_sync.sync_credential(world["credential"].id)
    assert result["counts"]["users"] == 69
    assert world["portal"].counters.rest_requests == 3  # the first batch, the users' pages, the external line


def test_P1_manual_links_survive_a_sync(app, world):
    cid = world["credential"].id
    reference_sync.sync_credential(cid)
    reference_sync.set_employee_link(cid, 45014, 16)
    reference_sync.sync_credential(cid)
    row = EmployeeLink.query.filter_by(credential_id=cid, uis_employee_id=45014).one()
    assert (row.b24_user_id, row.how, row.reason) == (16, "manual", None)
    reference_sync.set_employee_link(cid, 45014, None)  # back to automatic
    row = EmployeeLink.query.filter_by(credential_id=cid, uis_employee_id=45014).one()
    assert (row.b24_user_id, row.how) == (1, "auto")


def test_M1_one_side_failing_keeps_the_other(app, world):
    cid = world["credential"].id
    world["credential"].uis_account.data_api_token = "wrong-token"
    db.session.commit()
    result = reference_sync.sync_credential(cid)
    assert "uis" in result["errors"] and "bitrix" not in result["errors"]
    assert result["counts"]["users"] == 9


def test_M1_without_uis_account(app, world):
    cid = world["credential"].id
    world["credential"].uis_account = None
    db.session.commit()
    result = reference_sync.sync_credential(cid)
    assert result["errors"] == {"uis": "no_uis_account"} and result["counts"]["users"] == 9


def test_M1_engine_helpers_before_any_sync(app, world):
    cid = world["credential"].id
    assert reference_data.active_user_ids(cid) is None
    assert reference_data.b24_fields(cid, "deal") == {}
    assert reference_data.crm_mode(cid) is None
