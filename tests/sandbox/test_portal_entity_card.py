"""The portal's entity card shows a lead's COMMENTS and an HTML activity description formatted, as Bitrix24's
editor does (the app writes `<b>` and `<br>` there), and never runs markup it was sent."""
from __future__ import annotations

pytest_plugins = ["tests.sandbox.portal_fixtures"]

COMMENTS = "<b>Сайт:</b> shop.example.ru<br><b>Сообщение:</b> Перезвоните<br/><script>alert(1)</script><a href=x>x</a>"


def test_comments_and_html_descriptions_are_formatted_and_nothing_else(sandbox, token):
    lead_id = sandbox.rest("crm.lead.add", token, fields={"TITLE": "Заявка", "COMMENTS": COMMENTS}).get_json()["result"]
    for kind, text in ((3, "<b>HTML</b><br>описание"), (1, "<b>plain</b> text")):
        sandbox.rest("crm.activity.add", token, fields={
            "OWNER_TYPE_ID": 1, "OWNER_ID": lead_id, "TYPE_ID": 4, "SUBJECT": f"type {kind}", "DESCRIPTION": text,
            "DESCRIPTION_TYPE": kind, "COMMUNICATIONS": [{"VALUE": "79161234567", "ENTITY_TYPE_ID": 1,
                                                         "ENTITY_ID": lead_id}]})

    card = sandbox.portal.get(f"/crm/lead/details/{lead_id}/?user=1").get_data(as_text=True)

    assert "<b>Сайт:</b> shop.example.ru<br><b>Сообщение:</b> Перезвоните<br/>" in card
    assert "<script>alert(1)</script>" not in card and "&lt;script&gt;alert(1)&lt;/script&gt;" in card
    assert "<a href=x>" not in card
    assert "<b>HTML</b><br>описание" in card
    assert "&lt;b&gt;plain&lt;/b&gt; text" in card  # a plain-text description stays text
