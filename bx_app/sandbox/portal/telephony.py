"""A portal's external telephony (§11): external lines, registered calls, their statistics rows and records."""
from __future__ import annotations

import base64
import binascii
import re
import secrets
from datetime import datetime

from .crm import PORTAL_TZ, CrmStore, as_int, digits_of_phone, iso, param
from .rest_error import RestError

CALL_TYPES = {1: "outgoing", 2: "incoming", 3: "incoming with redirection", 4: "callback", 5: "informational"}
INCOMING_TYPES = {2, 3}
REREGISTER_WINDOW_SECONDS = 30 * 60
REST_APP_ID, REST_APP_NAME = "27", "UIS 2.0"
RECORD_EXTENSIONS = (".mp3", ".wav")
_PHONE = re.compile(r"^\+?[\d\s().\-]{3,}$")


def _core(description: str) -> RestError:
    return RestError(400, "ERROR_CORE", description)


class Telephony:
    """Calls live here from register to finish; a finished call becomes a statistics row (and leaves the
    active calls, so a second finish is "not found", as on a real portal)."""

    def __init__(self) -> None:
        self.lines: dict[str, dict] = {}
        self.calls: dict[str, dict] = {}  # CALL_ID -> the call, finished or not
        self.statistics: dict[str, dict] = {}  # CALL_ID -> the statistics row of a finished call
        self._ids = {"line": 0, "statistic": 400, "file": 9100}

    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    # --- users ------------------------------------------------------------------------------------
    @staticmethod
    def _user(params: dict, users: dict[int, dict]) -> int:
        user_id, inner = param(params, "USER_ID"), param(params, "USER_PHONE_INNER")
        if user_id in (None, "", 0, "0") and inner in (None, ""):
            raise _core("USER_ID or USER_PHONE_INNER should be set")
        if user_id not in (None, "", 0, "0"):
            found = as_int(user_id)
            user = users.get(found) if found is not None else None
        else:
            user = next((u for u in users.values() if u.get("UF_PHONE_INNER") == str(inner)), None)
        if user is None or not user["ACTIVE"]:
            raise _core("User is not found or is not active")
        return int(user["ID"])

    # --- lines ------------------------------------------------------------------------------------
    def line_add(self, params: dict) -> dict:
        number = str(param(params, "NUMBER") or "").strip()
        if not number:
            raise _core("NUMBER should be set")
        if number in self.lines:
            raise _core("Line already exists")
        line = {"ID": self._next("line"), "NUMBER": number, "NAME": str(param(params, "NAME") or number),
                "CRM_AUTO_CREATE": _flag(param(params, "CRM_AUTO_CREATE"), "Y")}
        self.lines[number] = line
        return {"ID": line["ID"]}

    def line_get(self, params: dict) -> list[dict]:
        return [{"NUMBER": line["NUMBER"], "NAME": line["NAME"], "CRM_AUTO_CREATE": line["CRM_AUTO_CREATE"]}
                for line in self.lines.values()]

    def line_update(self, params: dict) -> dict:
        line = self._line(params)
        if param(params, "NAME") not in (None, ""):
            line["NAME"] = str(param(params, "NAME"))
        if param(params, "CRM_AUTO_CREATE") not in (None, ""):
            line["CRM_AUTO_CREATE"] = _flag(param(params, "CRM_AUTO_CREATE"), line["CRM_AUTO_CREATE"])
        return {"ID": line["ID"]}

    def line_delete(self, params: dict) -> bool:
        line = self._line(params)
        del self.lines[line["NUMBER"]]
        return True

    def _line(self, params: dict) -> dict:
        number = str(param(params, "NUMBER") or "").strip()
        if not number:
            raise _core("NUMBER should be set")
        if number not in self.lines:
            raise _core("Line is not found")
        return self.lines[number]

    # --- register ---------------------------------------------------------------------------------
    def register(self, params: dict, crm: CrmStore, users: dict[int, dict], now: float) -> dict:
        user_id = self._user(params, users)
        phone = str(param(params, "PHONE_NUMBER") or "").strip()
        call_type = as_int(param(params, "TYPE"))
        if call_type not in CALL_TYPES:
            raise _core("Unknown TYPE")
        if not _PHONE.fullmatch(phone) or not digits_of_phone(phone):
            raise _core("Unsupported phone number format")
        started = _start_date(param(params, "CALL_START_DATE"), now)
        line_number = str(param(params, "LINE_NUMBER") or "")
        external_id = str(param(params, "EXTERNAL_CALL_ID") or "")
        same = (digits_of_phone(phone), call_type, user_id, line_number, external_id)
        for call in self.calls.values():
            if call["_same"] == same and now - call["_registered_at"] < REREGISTER_WINDOW_SECONDS:
                return dict(call["_result"])  # §11: a re-register within 30 min gets the old CALL_ID
        entity_type, entity_id = _entity_of(params, crm, phone)
        created: list[dict] = []
        result: dict = {"CALL_ID": f"externalCall.{secrets.token_hex(16)}.{int(now)}", "CRM_CREATED_LEAD": None,
                        "CRM_CREATED_ENTITIES": created, "CRM_ENTITY_TYPE": entity_type, "CRM_ENTITY_ID": entity_id}
        line = self.lines.get(line_number)
        wants_lead = str(param(params, "CRM_CREATE") or "0") in ("1", "Y", "true", "True")
        if call_type == 1 and line is not None and line["CRM_AUTO_CREATE"] == "N":
            wants_lead = False  # the line's own setting governs outgoing calls
        if entity_id is None and wants_lead:
            title = f"{'Входящий' if call_type in INCOMING_TYPES else 'Исходящий'} звонок {phone}"
            fields = {"TITLE": title, "SOURCE_ID": str(param(params, "CRM_SOURCE") or "CALL"),
                      "ASSIGNED_BY_ID": user_id, "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}
            try:
                lead_id = crm.add("lead", {"fields": fields}, user_id, now)
            except RestError as error:
                result["LEAD_CREATION_ERROR"] = error.description or error.error
            else:
                created.append({"ENTITY_TYPE": "LEAD", "ENTITY_ID": lead_id})
                result.update(CRM_CREATED_LEAD=lead_id, CRM_ENTITY_TYPE="LEAD", CRM_ENTITY_ID=lead_id)
        self.calls[result["CALL_ID"]] = {
            "CALL_ID": result["CALL_ID"], "EXTERNAL_CALL_ID": external_id, "USER_ID": user_id, "PHONE_NUMBER": phone,
            "TYPE": call_type, "LINE_NUMBER": line_number, "CALL_START_DATE": started,
            "CRM_ENTITY_TYPE": result["CRM_ENTITY_TYPE"], "CRM_ENTITY_ID": result["CRM_ENTITY_ID"],
            "CRM_CREATED_LEAD": result["CRM_CREATED_LEAD"], "SHOW": str(param(params, "SHOW", "1")) not in ("0", "N"),
            "REGISTERED": iso(now), "FINISHED": False, "RECORD": None,
            "_same": same, "_registered_at": now, "_result": dict(result),
        }
        return result

    # --- finish -----------------------------------------------------------------------------------
    def finish(self, params: dict, crm: CrmStore, users: dict[int, dict], now: float) -> dict:
        call_id = param(params, "CALL_ID")
        if not isinstance(call_id, str) or not call_id:
            raise RestError(400, "INVALID_ARGUMENT", "CALL_ID must be a string")
        call = self.calls.get(call_id)
        if call is None or call["FINISHED"]:
            raise _core("Call is not found (call should be registered prior to finishing)")
        user_id = self._user(params, users)
        duration = max(as_int(param(params, "DURATION")) or 0, 0)
        status = str(param(params, "STATUS_CODE") or ("200" if duration > 0 else "304"))
        cost = param(params, "COST")
        vote = as_int(param(params, "VOTE"))
        activity_id = None
        if call["CRM_ENTITY_ID"] is not None:
            activity_id = self._activity(call, crm, user_id, duration, status, now)
        row = {
            "CALL_ID": call_id, "EXTERNAL_CALL_ID": call["EXTERNAL_CALL_ID"], "PORTAL_USER_ID": user_id,
            "PHONE_NUMBER": call["PHONE_NUMBER"], "PORTAL_NUMBER": call["LINE_NUMBER"], "INCOMING": str(call["TYPE"]),
            "CALL_DURATION": duration, "CALL_START_DATE": call["CALL_START_DATE"],
            "CALL_STATUS": 1 if status == "200" else 0, "CALL_VOTE": vote if vote in range(1, 6) else None,
            "COST": float(cost) if _is_number(cost) else None,
            "COST_CURRENCY": str(param(params, "COST_CURRENCY") or "RUB"),
            "CALL_FAILED_CODE": status, "CALL_FAILED_REASON": str(param(params, "FAILED_REASON") or ""),
            "REST_APP_ID": REST_APP_ID, "REST_APP_NAME": REST_APP_NAME, "CRM_ACTIVITY_ID": activity_id,
            "COMMENT": None, "CRM_ENTITY_TYPE": call["CRM_ENTITY_TYPE"], "CRM_ENTITY_ID": call["CRM_ENTITY_ID"],
            "ID": self._next("statistic"), "RECORD_FILE_ID": None, "RECORD_URL": None,
        }
        self.statistics[call_id] = row
        call.update(FINISHED=True, FINISHED_AT=iso(now), STATUS_CODE=status, DURATION=duration, USER_ID=user_id)
        record_url = param(params, "RECORD_URL")  # deprecated in finish, still honoured
        if record_url:
            self._attach(call_id, {"RECORD_URL": record_url}, crm)
        answer = {k: v for k, v in row.items() if k not in ("RECORD_FILE_ID", "RECORD_URL")}
        answer["CALL_START_DATE"] = {}  # the doc's sample: a serialised date object
        return answer

    def _activity(self, call: dict, crm: CrmStore, user_id: int, duration: int, status: str, now: float) -> int:
        owner_type = {"LEAD": 1, "DEAL": 2, "CONTACT": 3, "COMPANY": 4}[call["CRM_ENTITY_TYPE"]]
        incoming = call["TYPE"] in INCOMING_TYPES
        start = datetime.fromisoformat(call["CALL_START_DATE"])
        subject = f"{'Входящий' if incoming else 'Исходящий'} звонок {call['PHONE_NUMBER']}"
        if status != "200":
            subject = f"{'Пропущенный' if incoming else 'Неотвеченный'} звонок {call['PHONE_NUMBER']}"
        fields = {
            "OWNER_TYPE_ID": owner_type, "OWNER_ID": call["CRM_ENTITY_ID"], "TYPE_ID": 2,
            "PROVIDER_ID": "VOXIMPLANT_CALL", "PROVIDER_TYPE_ID": "CALL", "SUBJECT": subject,
            "DIRECTION": 1 if incoming else 2, "COMPLETED": "Y", "RESPONSIBLE_ID": user_id,
            "START_TIME": start.isoformat(timespec="seconds"),
            "END_TIME": datetime.fromtimestamp(start.timestamp() + duration, start.tzinfo).isoformat(
                timespec="seconds"),
            "ORIGIN_ID": f"VI_{call['CALL_ID']}", "DESCRIPTION": f"Длительность: {duration} с",
            "COMMUNICATIONS": [{"VALUE": call["PHONE_NUMBER"], "ENTITY_ID": call["CRM_ENTITY_ID"],
                                "ENTITY_TYPE_ID": owner_type, "TYPE": "PHONE"}],
        }
        return crm.activity_add({"fields": fields}, user_id, now)

    # --- records ----------------------------------------------------------------------------------
    def attach_record(self, params: dict, crm: CrmStore, upload_url: str) -> dict:
        call_id = str(param(params, "CALL_ID") or "")
        if call_id not in self.statistics:
            raise _core("Call is not found in the statistic table. It looks like it is not finished yet.")
        return self._attach(call_id, params, crm, upload_url)

    def _attach(self, call_id: str, params: dict, crm: CrmStore, upload_url: str = "") -> dict:
        url, filename = param(params, "RECORD_URL"), str(param(params, "FILENAME") or "")
        content = param(params, "FILE_CONTENT")
        if not url and not filename:
            raise _core("Required parameters are not set. Request should contain either URL or FILENAME parameter")
        if filename and not filename.lower().endswith(RECORD_EXTENSIONS):
            raise _core("Wrong file extension. Only wav and mp3 are allowed")
        size = None
        if not url and content:
            try:
                size = len(base64.b64decode(str(content), validate=True))
            except (binascii.Error, ValueError) as exc:
                raise _core("FILE_CONTENT is not valid base64") from exc
        if not url and not content:
            token = secrets.token_hex(8)
            self.calls[call_id]["PENDING_UPLOAD"] = {"token": token, "FILENAME": filename}
            return {"uploadUrl": f"{upload_url}&token=telephony%7C{token}", "fieldName": "file"}
        return self.store_record(call_id, {"RECORD_URL": url or None, "FILENAME": filename or None, "SIZE": size},
                                 crm)

    def store_record(self, call_id: str, record: dict, crm: CrmStore) -> dict:
        """A repeat replaces the record (§11)."""
        file_id = self._next("file")
        row = self.statistics[call_id]
        row["RECORD_FILE_ID"] = file_id
        row["RECORD_URL"] = record.get("RECORD_URL")
        self.calls[call_id]["RECORD"] = {"FILE_ID": file_id, **record}
        activity = crm.activities.get(row["CRM_ACTIVITY_ID"] or 0)
        if activity is not None:
            activity["STORAGE_ELEMENT_IDS"] = [str(file_id)]
            activity["RECORD_URL"] = record.get("RECORD_URL")
        return {"FILE_ID": file_id}

    def upload(self, token: str, filename: str, size: int, crm: CrmStore) -> dict | None:
        """The second step of the FILENAME-only mode: the file POSTed to the returned uploadUrl."""
        for call_id, call in self.calls.items():
            pending = call.get("PENDING_UPLOAD")
            if pending and pending["token"] == token:
                call.pop("PENDING_UPLOAD")
                return self.store_record(call_id, {"RECORD_URL": None, "FILENAME": pending["FILENAME"] or filename,
                                                   "SIZE": size}, crm)
        return None

    def as_json(self) -> dict:
        public = [{k: v for k, v in c.items() if not k.startswith("_")} for c in self.calls.values()]
        return {"external_lines": list(self.lines.values()), "calls": public,
                "call_statistics": list(self.statistics.values())}


def _flag(value, default: str) -> str:
    if value in (None, ""):
        return default
    return "N" if str(value).upper() in ("N", "0", "FALSE") else "Y"


def _is_number(value) -> bool:
    try:
        float(str(value))
    except (TypeError, ValueError):
        return False
    return value not in (None, "")


def _start_date(value, now: float) -> str:
    if value in (None, ""):
        return iso(now)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise _core("CALL_START_DATE should be in the ISO-8601 format") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=PORTAL_TZ)  # no offset: the portal's own zone
    return parsed.isoformat(timespec="seconds")


def _entity_of(params: dict, crm: CrmStore, phone: str) -> tuple[str | None, int | None]:
    """The CRM entity of a call: the one named, else the newest contact, else the newest lead with the phone."""
    named_type = str(param(params, "CRM_ENTITY_TYPE") or "").upper()
    named_id = as_int(param(params, "CRM_ENTITY_ID"))
    tables = {"CONTACT": crm.contacts, "LEAD": crm.leads, "DEAL": crm.deals}
    if named_type in tables and named_id in tables[named_type]:
        return named_type, named_id
    wanted = digits_of_phone(phone)
    for entity, table in (("CONTACT", crm.contacts), ("LEAD", crm.leads)):
        ids = [i for i, record in table.items()
               if any(digits_of_phone(e["VALUE"]) == wanted for e in record.get("PHONE") or [])]
        if ids:
            return entity, max(ids)
    return None, None
