"""A world to drive the engine against the in-process sandbox: settings, UIS rows, runs, the portal's CRM."""
from __future__ import annotations

from bx_app import intake
from bx_app.engine import drain
from bx_app.extensions import db
from bx_app.models import Credential, Event
from bx_app.models.event import EventStatus
from bx_app.settings_store import load_settings, save_channel


class World:
    def __init__(self, app, state, uis_app, credential_id, portal_id):
        self.app, self.state, self.uis_app = app, state, uis_app
        self.portal = state.portals[8081]
        self.uis = uis_app.test_client()
        self.credential_id, self.portal_id = credential_id, portal_id

    # --- settings
    def configure(self, channel: str, **options) -> None:
        current = load_settings(self.credential_id).channel(channel).as_dict()
        current.update(options)
        save_channel(self.credential_id, channel, current.pop("active", True), current)

    # --- UIS side
    def new_chat(self, **body) -> dict:
        body.setdefault("messages", [{"source": "visitor", "text": "Здравствуйте"},
                                     {"source": "operator", "text": "Добрый день!"}])
        return self.uis.post("/control/chats", json=body).get_json()["row"]

    def finish_chat(self, chat_id: int) -> dict:
        return self.uis.post(f"/control/chats/{chat_id}/finish", json={}).get_json()["row"]

    def record(self, kind: str, stage: str, row: dict, source: str = "poll") -> int:
        external = str(row.get("id") or row.get("chat_id") or row.get("offline_message_id"))
        return intake.record_event(self.credential_id, kind, stage, external, dict(row), source=source).event_id

    def offline(self, n: int = 1, **fields) -> dict:
        body = {"visitor_name": f"Сергей {n}", "visitor_phone_number": f"7916{n:07d}", "text": "Перезвоните", **fields}
        return self.uis.post("/control/offline_messages", json=body).get_json()["row"]

    def hook_url(self) -> str:
        return f"http://localhost:8000/hooks/uis/{db.session.get(Credential, self.credential_id).hook_token}"

    def place_call(self, **body) -> dict:
        """A call placed in the sandbox UIS; its notifications go to the app's hook (UIS's default templates
        unless `template`/`templates` say otherwise). The answer: the report row and the deliveries."""
        body.setdefault("contact_phone_number", "79161112233")
        body.setdefault("notify_url", self.hook_url())
        answer = self.uis.post("/control/calls", json=body)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    def calls(self) -> list[dict]:
        """The portal's registered calls (telephony.externalCall.*), finished or not."""
        return [c for c in self.portal.telephony.as_json()["calls"]]

    # --- running
    def run(self, *event_ids: int) -> dict:
        return drain.process_group(self.portal_id, list(event_ids))

    def drain_all(self, rounds: int = 30) -> None:
        """Drain the pending set; retries scheduled for later run now (the clock of RQ is not ours), and no
        group pauses for the bucket or to fill up (the test decides when groups run)."""
        for _ in range(rounds):
            waiting = [e.id for e in Event.query.filter(Event.status.in_([EventStatus.NEW,
                                                                           EventStatus.PROCESSING]))]
            db.session.commit()
            if not waiting:
                return
            for event_id in waiting:
                intake.enqueue_event(event_id, self.portal_id)
            drain.drain_portal(self.portal_id, pauses=False)

    def event(self, event_id: int) -> Event:
        db.session.expire_all()
        return db.session.get(Event, event_id)

    # --- Bitrix24 side
    def crm(self, table: str) -> list[dict]:
        return list(getattr(self.portal.crm, table).values())

    def by_origin(self, table: str, origin: str) -> list[dict]:
        return [r for r in self.crm(table) if r.get("ORIGIN_ID") == origin]

    @property
    def requests(self) -> int:
        return self.portal.counters.rest_requests
