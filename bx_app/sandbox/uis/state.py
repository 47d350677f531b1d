"""In-memory state of the UIS sandbox: account, tokens, reports' rows, limits and fault injection."""
from __future__ import annotations

import copy
import math
import secrets
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bx_app.sandbox.uis import seed

SANDBOX_TOKEN = "sandbox-uis-token"
SANDBOX_LOGIN = "sandbox"
SANDBOX_PASSWORD = "sandbox-password"
SESSION_SECONDS = 3600
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"]
MARKETING = ["search_engine", "search_query", "referrer", "ua_client_id", *UTM]

# Every column each report knows; rows are padded with None for the ones they lack.
OFFLINE_FIELDS = [
    "id", "date_time", "text", "communication_id", "communication_number", "communication_page_url",
    "communication_type", "status", "process_time", "form_type", "form_name", "properties", "group_id",
    "group_name", "employee_id", "employee_full_name", "employee_answer_message", "employee_comment",
    "is_agree_to_process_personal_data", "is_agree_to_mailing", "site_id", "site_domain_name", "campaign_id",
    "campaign_name", "visitor_id", "person_id", "visitor_name", "visitor_phone_number", "visitor_email",
    "visitor_session_id", "visitor_type", "visitor_device", "ext_id", *MARKETING, "tags",
]
OFFLINE_DEFAULTS = [
    "id", "text", "communication_id", "is_agree_to_process_personal_data", "is_agree_to_mailing", "status",
    "form_type", "properties", "employee_id", "site_id", "campaign_id", "visitor_phone_number", "visitor_email",
    "visitor_name", "visitor_id", "visitor_session_id",
]
CHAT_FIELDS = [
    "id", "status", "initiator", "date_time", "duration", "answer_time", "communication_id",
    "communication_number", "communication_type", "communication_page_url", "ext_id", "chat_ad_url",
    "is_group_chat", "is_transfer", "release_cause", "messages_count", "chat_channel_id", "chat_channel_type",
    "chat_channel_name", "chat_user_id", "chat_username", "employee_id", "employee_full_name",
    "employee_raiting", "employee_messages_count", "site_id", "site_domain_name", "campaign_id",
    "campaign_name", "visitor_id", "visitor_ids", "visitor_phone_number", "person_id", "visitor_type",
    "visitor_session_id", "visits_count", "visitor_city", "visitor_region", "visitor_country", *MARKETING,
    "tags",
]
CHAT_DEFAULTS = [
    "id", "status", "initiator", "date_time", "duration", "answer_time", "communication_id", "chat_ad_url",
    "is_group_chat", "is_transfer", "release_cause", "employee_id", "employee_raiting", "site_id", "campaign_id",
    "visitor_phone_number", "visitor_id", "visitor_ids",
]
MESSAGE_FIELDS = [
    "id", "chat_id", "channel_id", "channel_type", "date_time", "is_group_chat", "visitor_id", "text", "source",
    "resource", "employee_id", "employee_full_name",
]
MESSAGE_DEFAULTS = [f for f in MESSAGE_FIELDS if f not in ("channel_id", "channel_type")]
# Calls (§8; columns, filter/sort marks and the default subset as the method pages cited there list them).
CALL_FIELDS = [
    "id", "start_time", "finish_time", "finish_reason", "direction", "cpn_region_id", "cpn_region_name",
    "cpn_country_name", "cpn_country_id", "scenario_operations", "source", "is_lost", "communication_number",
    "communication_page_url", "contact_phone_number", "communication_id", "communication_type", "wait_duration",
    "total_wait_duration", "lost_call_processing_duration", "talk_duration", "clean_talk_duration",
    "total_duration", "postprocess_duration", "call_records", "wav_call_records", "full_record_file_link",
    "voice_mail_records", "virtual_phone_number", "ua_client_id", "ym_client_id", "sale_date", "sale_cost",
    "is_transfer", "search_query", "search_engine", "referrer_domain", "referrer", "entrance_page", "gclid",
    "yclid", "ymclid", "ef_id", "channel", "tags", "employees", "last_answered_employee_id",
    "last_answered_employee_full_name", "last_answered_employee_rating", "first_answered_employee_id",
    "first_answered_employee_full_name", "last_talked_employee_id", "last_talked_employee_full_name",
    "first_talked_employee_id", "first_talked_employee_full_name", "operator_phone_number", "scenario_name",
    "scenario_id", "site_domain_name", "site_id", "campaign_name", "campaign_id", "visit_other_campaign",
    "auto_call_campaign_name", "visitor_id", "person_id", "visitor_type", "visitor_session_id", "visits_count",
    "visitor_first_campaign_id", "visitor_first_campaign_name", "visitor_city", "visitor_region",
    "visitor_country", "visitor_device", "visitor_custom_properties", "segments", "call_api_request_id",
    "call_api_external_id", "contact_id", "contact_full_name", "utm_source", "utm_medium", "utm_term",
    "utm_content", "utm_campaign", "openstat_ad", "openstat_campaign", "openstat_service", "openstat_source",
    "attributes", "eq_utm_source", "eq_utm_medium", "eq_utm_term", "eq_utm_content", "eq_utm_campaign",
    "eq_utm_referrer", "eq_utm_expid", "source_id", "source_name", "source_new", "channel_new", "channel_code",
    "ext_id",
]
CALL_DEFAULTS = [
    "id", "start_time", "finish_time", "finish_reason", "direction", "cpn_region_id", "cpn_region_name",
    "cpn_country_name", "cpn_country_id", "source", "is_lost", "contact_phone_number", "communication_id",
    "communication_type", "wait_duration", "total_wait_duration", "talk_duration", "clean_talk_duration",
    "total_duration", "call_records", "wav_call_records", "full_record_file_link", "virtual_phone_number",
]
CALL_NOT_FILTERABLE = {
    "start_time", "finish_time", "communication_page_url", "communication_type", "call_records",
    "wav_call_records", "full_record_file_link", "voice_mail_records", "ua_client_id", "ym_client_id", "ymclid",
    "visit_other_campaign", "scenario_operations",
}
CALL_SORTABLE = {
    "start_time", "finish_reason", "direction", "cpn_region_id", "cpn_region_name", "cpn_country_name",
    "cpn_country_id", "source", "is_lost", "communication_number", "lost_call_processing_duration",
    "virtual_phone_number", "sale_date", "sale_cost", "is_transfer", "scenario_id", "site_id", "campaign_id",
    "auto_call_campaign_name", "visitor_id", "visitor_type", "visitor_device", "source_id", "source_name",
    "source_new", "channel_new", "channel_code", "ext_id",
}
CALL_LEG_FIELDS = [
    "id", "call_session_id", "call_records", "wav_call_records", "start_time", "connect_time", "duration",
    "total_duration", "finish_reason", "finish_reason_description", "virtual_phone_number", "calling_phone_number",
    "called_phone_number", "direction", "is_transfered", "is_operator", "employee_id", "employee_full_name",
    "employee_phone_number", "employee_rating", "scenario_id", "scenario_name", "is_coach", "release_cause_code",
    "release_cause_description", "is_failed", "is_talked", "contact_id", "contact_full_name",
    "contact_phone_number", "action_id", "action_name", "group_id", "group_name",
]
CALL_LEG_DEFAULTS = [f for f in CALL_LEG_FIELDS if f not in (
    "finish_reason_description", "employee_full_name", "employee_phone_number", "scenario_name", "is_talked",
    "contact_id", "contact_full_name", "contact_phone_number")]
CALL_LEG_NOT_FILTERABLE = {"call_records", "wav_call_records", "start_time", "connect_time", "contact_id",
                           "contact_full_name", "contact_phone_number"}
CALL_LEG_SORTABLE = {"call_session_id", "start_time", "duration", "total_duration", "finish_reason",
                     "finish_reason_description", "virtual_phone_number", "calling_phone_number",
                     "called_phone_number", "direction", "is_transfered", "is_operator", "employee_id",
                     "employee_full_name", "employee_phone_number", "employee_rating", "scenario_id", "scenario_name",
                     "is_coach", "release_cause_code", "release_cause_description", "is_failed", "is_talked"}
# Events whose notifications the sandbox sends, in the cabinet's words (reference §10 directory).
NOTIFIED_EVENTS = ["offline_message", "chat_finished", "lost_chat", "in_call_session", "out_call_session",
                   "call_session_finished", "lost_call_session", "talk_record_file"]
CALL_EVENTS = NOTIFIED_EVENTS[3:]
DELIVERY_ORDERS = ("in_order", "reversed", "shuffled")


class Budget:
    """A points budget that refills a fixed time after its window opened (per minute or per day)."""

    def __init__(self, limit: int, seconds: int):
        self.limit, self.seconds = limit, seconds
        self.used, self.started = 0, time.time()

    def _roll(self) -> None:
        if time.time() - self.started >= self.seconds:
            self.used, self.started = 0, time.time()

    @property
    def remaining(self) -> int:
        self._roll()
        return max(0, self.limit - self.used)

    @property
    def reset(self) -> int:
        self._roll()
        return max(0, math.ceil(self.started + self.seconds - time.time()))

    def charge(self) -> None:
        self._roll()
        self.used += 1

    def set_remaining(self, remaining: int) -> None:
        self._roll()
        self.used = max(0, self.limit - int(remaining))


class UisState:
    """Everything the sandbox holds; callers take `lock` around reads and writes."""

    def __init__(self, app_url: str | None = None):
        self.lock = threading.RLock()
        self.app_url = app_url
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.account = copy.deepcopy(seed.ACCOUNT)
            self.zone = ZoneInfo(self.account["timezone"])
            self.tokens: dict[str, dict] = {SANDBOX_TOKEN: {"status": "active", "kind": "key", "expire_at": None}}
            self.users = {SANDBOX_LOGIN: SANDBOX_PASSWORD, "b24_integration": "S3cret-Passw0rd"}
            self.employees = copy.deepcopy(seed.EMPLOYEES)
            self.sites = copy.deepcopy(seed.SITES)
            self.channels = copy.deepcopy(seed.CHAT_CHANNELS)
            self.offline_messages = [pad(r, OFFLINE_FIELDS, communication_type="offline_message")
                                     for r in copy.deepcopy(seed.OFFLINE_MESSAGES)]
            self.chats = [pad(r, CHAT_FIELDS, communication_type="chat", is_group_chat=False)
                          for r in copy.deepcopy(seed.CHATS)]
            self.chat_messages = [self._message_row(r) for r in copy.deepcopy(seed.CHAT_MESSAGES)]
            self.calls = [pad(r, CALL_FIELDS, source="va", is_transfer=False) for r in copy.deepcopy(seed.CALLS)]
            self.call_legs: list[dict] = []
            self.scenarios = copy.deepcopy(seed.SCENARIOS)
            self.virtual_numbers = copy.deepcopy(seed.VIRTUAL_NUMBERS)
            self.ongoing_calls: dict[int, dict] = {}  # call id → how it is to end (the call form's choices)
            self.visitors = {v["id"]: v for v in copy.deepcopy(seed.VISITORS)}
            for row in self.offline_messages:
                self._remember_visitor(row["visitor_id"], row["visitor_name"], row["visitor_phone_number"],
                                       row["visitor_email"])
            self.minute = Budget(120, 60)
            self.day = Budget(10000, 86400)
            self.ip_allowlist_enabled = False
            self.allowed_ips: list[str] = ["0.0.0.0/0"]
            self.caller_ip: str | None = None
            self.fail_next: list[dict] = []
            self.disabled_methods: set[str] = set()
            self.counters: Counter = Counter()
            self.errors: Counter = Counter()
            self.deliveries: list[dict] = []
            self.last_hook_url: str | None = None
            # The cabinet's "Уведомления": one hook URL for every event unless a request names another,
            # and per event its name, method, active flag and the template (None: UIS's default).
            self.hook_url: str | None = None
            self.public_url: str | None = None  # how the app reaches this sandbox (record links)
            self.delivery = {"duplicate": False, "order": "in_order", "seed": None}
            self.notifications = {event: {"name": seed.NOTIFICATION_EVENTS[event], "method": "POST",
                                          "active": True, "template": None} for event in NOTIFIED_EVENTS}
            self._ids = {"offline": 660012400, "chat": 880011300, "message": 990000100, "call": 3100012400,
                         "leg": 420000100, "communication": 1200000300, "visitor": 5123456800, "session": 77002000,
                         "person": 33445600}
            from bx_app.sandbox.uis.calls import legs_of  # late: calls builds on this module

            for row in self.calls:
                self.call_legs.extend(legs_of(self, row))

    def next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def now(self) -> str:
        """The account's wall clock, as reports print it."""
        return datetime.now(self.zone).strftime(TIME_FORMAT)

    def later(self, when: str, seconds: int) -> str:
        return (datetime.strptime(when, TIME_FORMAT) + timedelta(seconds=seconds)).strftime(TIME_FORMAT)

    def new_session(self) -> dict:
        token = secrets.token_hex(32)
        expire_at = int(time.time()) + SESSION_SECONDS
        self.tokens[token] = {"status": "active", "kind": "session", "expire_at": expire_at}
        return {"access_token": token, "expire_at": expire_at, "app_id": self.account["app_id"]}

    def employee(self, employee_id) -> dict | None:
        return next((e for e in self.employees if e["id"] == employee_id), None)

    def site(self, site) -> dict | None:
        for row in self.sites:
            if site in (row["id"], str(row["id"]), row["domain_name"]):
                return row
        return None

    def channel(self, channel_id) -> dict | None:
        return next((c for c in self.channels if str(c["id"]) == str(channel_id)), None)

    def _remember_visitor(self, visitor_id, name, phone, email) -> None:
        if visitor_id is None:
            return
        visitor = self.visitors.setdefault(visitor_id, {"id": visitor_id, "name": None, "emails": [],
                                                        "phones": [], "usernames": []})
        visitor["name"] = visitor["name"] or name
        if phone and phone not in visitor["phones"]:
            visitor["phones"].append(phone)
        if email and email not in visitor["emails"]:
            visitor["emails"].append(email)

    def _message_row(self, row: dict) -> dict:
        chat = next((c for c in self.chats if c["id"] == row["chat_id"]), None)
        row = pad(row, MESSAGE_FIELDS)
        if chat:
            row["channel_id"], row["channel_type"] = chat["chat_channel_id"], chat["chat_channel_type"]
        return row

    def snapshot(self) -> dict:
        return {
            "account": self.account, "tokens": self.tokens, "employees": self.employees, "sites": self.sites,
            "chat_channels": self.channels, "offline_messages": self.offline_messages, "chats": self.chats,
            "chat_messages": self.chat_messages, "calls": self.calls, "visitors": list(self.visitors.values()),
            "config": self.config(), "counters": dict(self.counters), "errors": dict(self.errors),
            "deliveries": self.deliveries, "last_hook_url": self.last_hook_url, "call_legs": self.call_legs,
            "scenarios": self.scenarios, "virtual_numbers": self.virtual_numbers,
            "notifications": self.notification_settings(),
        }

    def notification_settings(self) -> dict:
        return {"hook_url": self.hook_url, "public_url": self.public_url, **self.delivery,
                "events": copy.deepcopy(self.notifications)}

    def prefilled_hook(self) -> str:
        """What the cabinet's hook fields show: the configured hook URL, else the last one used."""
        return self.hook_url or self.last_hook_url or ""

    def limits(self) -> dict:
        return {"day_limit": self.day.limit, "day_remaining": self.day.remaining, "day_reset": self.day.reset,
                "minute_limit": self.minute.limit, "minute_remaining": self.minute.remaining,
                "minute_reset": self.minute.reset}

    def config(self) -> dict:
        return {
            "limits": self.limits(), "ip_allowlist_enabled": self.ip_allowlist_enabled,
            "allowed_ips": self.allowed_ips, "caller_ip": self.caller_ip, "fail_next": self.fail_next,
            "disabled_methods": sorted(self.disabled_methods),
            "tokens": {token: info["status"] for token, info in self.tokens.items()},
            "notifications": self.notification_settings(),
        }


def pad(row: dict, fields: list[str], **defaults) -> dict:
    """A row holding every known column (absent ones None), in the report's column order."""
    padded = {name: row.get(name, defaults.get(name)) for name in fields}
    for name, value in row.items():
        padded.setdefault(name, value)
    return padded
