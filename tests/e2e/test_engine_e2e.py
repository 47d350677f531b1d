"""Faults with real processes: a worker killed before its commit, Redis restarted mid-burst, a limit storm."""
from __future__ import annotations

import signal
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import launch
from tests.e2e.portal_steps import db_rows, install_claim_activate, kill_worker, wait_until

FINAL = ("done", "skipped")


@pytest.fixture(scope="module")
def engine(stack, playwright_instance):
    """The stack with the app installed, claimed and active (offline requests and chats on, notifications on)."""
    browser = launch(playwright_instance)
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU").new_page()
        setup = install_claim_activate(stack, page, "engine")
    finally:
        browser.close()
    return setup


def push_offline(stack, hook_url: str, n: int) -> str:
    reply = stack.uis_control("/control/offline_messages", {
        "visitor_name": f"Клиент {n}", "visitor_phone_number": f"+7 (916) {n // 10000 % 1000:03d}-{n % 10000:04d}",
        "text": f"Заявка {n}", "notify_url": hook_url})
    assert [d["status"] for d in reply["deliveries"]] == [200], reply["deliveries"]
    return str(reply["row"]["id"])


def chat_with_finish(stack, hook_url: str, n: int) -> str:
    chat = stack.uis_control("/control/chats", {
        "visitor_name": f"Гость {n}", "visitor_phone_number": f"7925{n:07d}",
        "messages": [{"source": "visitor", "text": f"Вопрос {n} 🙂"}, {"source": "operator", "text": "Отвечаю"}]})["row"]
    reply = stack.uis_control(f"/control/chats/{chat['id']}/finish", {"notify_url": hook_url})
    assert all(d["status"] == 200 for d in reply["deliveries"]), reply["deliveries"]
    return str(chat["id"])


def statuses(stack, kind: str, external_ids: list[str]) -> list[tuple]:
    marks = ",".join("?" * len(external_ids))
    return db_rows(stack, f"SELECT external_id, stage, status FROM event WHERE kind = ? AND external_id IN ({marks})",
                   kind, *external_ids)


def all_final(stack, kind: str, external_ids: list[str], stage: str) -> bool:
    rows = [r for r in statuses(stack, kind, external_ids) if r[1] == stage]
    return len(rows) == len(external_ids) and all(r[2] in FINAL for r in rows)


def assert_exactly_once(stack, origins: list[str]) -> dict:
    """One entity per ORIGIN_ID (leads, deals, contacts each), one visible notification per communication."""
    state = stack.portal_state()
    for table in ("leads", "deals", "contacts"):
        per_origin = Counter(row.get("ORIGIN_ID") for row in state[table] if row.get("ORIGIN_ID"))
        assert not [o for o, n in per_origin.items() if n > 1], f"duplicated {table}: {per_origin.most_common(3)}"
    leads = Counter(row.get("ORIGIN_ID") for row in state["leads"])
    assert [o for o in origins if leads[o] != 1] == [], "every communication has exactly one lead"
    shown = Counter(n["TAG"] for n in state["notifications"])
    assert [o for o in origins if shown[f"UIS|{o}"] != 1] == [], "one notification per communication"
    return {"sent": {o: state["notifications_sent"].get(f"UIS|{o}", 0) for o in origins}, "state": state}


def redis_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_worker_killed_between_the_write_batch_and_the_commit(stack, engine):
    # The write batch runs in the portal, then its answer is held back 5 s: the worker dies meanwhile.
    stack.portal_control({"clear_faults": True, "faults": [
        {"error": "DELAY_AFTER", "method": "batch", "seconds": 5, "count": 1, "contains": "crm.lead.add"}]})
    request_id = push_offline(stack, engine["hook_url"], 1)
    origin = f"offline_message:{request_id}"
    wait_until(lambda: any(lead.get("ORIGIN_ID") == origin for lead in stack.portal_state()["leads"]), timeout=20,
               message="the lead written by the delayed batch")
    assert statuses(stack, "offline_message", [request_id]) == [(request_id, "arrived", "processing")]
    assert len(kill_worker(stack)) >= 2  # the worker and the horse inside the batch's delay
    stack.start_worker()
    wait_until(lambda: all_final(stack, "offline_message", [request_id], "arrived"), timeout=30,
               message="the event done after the sweeper")
    once = assert_exactly_once(stack, [origin])
    assert once["sent"] == {origin: 1}  # the retry found the ORIGIN_ID: nothing written or notified again
    row = db_rows(stack, "SELECT status, reason, attempts FROM event WHERE external_id = ?", request_id)[0]
    assert row[:2] == ("done", "already_created") and row[2] >= 2


def test_redis_restarted_mid_burst(stack, engine):
    stack.portal_control({"clear_faults": True})
    hook = engine["hook_url"]
    before = [push_offline(stack, hook, n) for n in range(100, 105)]
    stack.kill("redis", signal.SIGKILL)
    # Redis is down: the web still stores every push and answers 2xx (push_offline checks the status).
    during = [push_offline(stack, hook, n) for n in range(105, 115)]
    assert len(statuses(stack, "offline_message", during)) == len(during)
    stack.start_redis()
    wait_until(lambda: redis_up(stack.redis_port), timeout=10, message="redis back")
    # The worker (and its cron) wait for Redis instead of dying; no supervisor is needed.
    assert stack.procs["worker"].poll() is None
    after = [push_offline(stack, hook, n) for n in range(115, 120)]
    ids = before + during + after
    wait_until(lambda: all_final(stack, "offline_message", ids, "arrived"), timeout=45,
               message="every event of the burst done after Redis is back")
    assert {r[2] for r in statuses(stack, "offline_message", ids) if r[1] == "arrived"} == {"done"}
    assert_exactly_once(stack, [f"offline_message:{i}" for i in ids])


def test_storm_of_limits_5xx_and_expired_tokens_every_event_done_exactly_once(stack, engine):
    hook = engine["hook_url"]
    stack.portal_control({"clear_faults": True, "reset_counters": True, "fault_seed": 7, "faults": [
        {"error": "QUERY_LIMIT_EXCEEDED", "probability": 0.12, "count": None},
        {"error": "OPERATION_TIME_LIMIT", "probability": 0.08, "count": None},
        {"error": "INTERNAL_SERVER_ERROR", "probability": 0.08, "count": None},
        {"error": "expired_token", "probability": 0.05, "count": None}]})
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        offline = list(pool.map(lambda n: push_offline(stack, hook, n), range(200, 250)))
        chats = list(pool.map(lambda n: chat_with_finish(stack, hook, n), range(1, 11)))
    # The storm lasts while the burst is being worked on, then the portal recovers.
    time.sleep(max(0.0, 6 - (time.monotonic() - started)))
    served = stack.portal_state()["counters"]["faults_served"]
    stack.portal_control({"clear_faults": True})
    wait_until(lambda: all_final(stack, "offline_message", offline, "arrived")
               and all_final(stack, "chat", chats, "finished"), timeout=60,
               message="every event done after the storm")
    origins = [f"offline_message:{i}" for i in offline] + [f"chat:{i}" for i in chats]
    rows = statuses(stack, "offline_message", offline) + statuses(stack, "chat", chats)
    assert {r[2] for r in rows if r[1] in ("arrived", "finished")} == {"done"}
    # A chat's finish may come as the push and again from polling: one event row per stage all the same.
    assert len([r for r in rows if r[1] == "finished"]) == len(chats)
    once = assert_exactly_once(stack, origins)
    assert served > 0
    state = once["state"]
    chat_leads = [lead for lead in state["leads"] if lead.get("ORIGIN_ID", "").startswith("chat:")
                  and lead["ORIGIN_ID"].split(":")[1] in chats]
    assert all("Отвечаю" in lead["COMMENTS"] for lead in chat_leads)  # the transcript, enriched from the Data API
