"""G1 scenario filters: validation with positions, operators by type, evaluation with the deciding condition."""
from __future__ import annotations

import pytest

from bx_app.integration import event_fields as ef
from bx_app.integration.filters import MAX_DEPTH, condition_holds, evaluate, validate_tree

CHATS = ef.catalog_for("chats")
OFFLINE = ef.catalog_for("offline")
FACTS = {"site": "shop.example.ru", "channel_id": 3102, "channel_type": "whatsapp", "tags": ["VIP", "Опт"],
         "hour": 22, "weekday": 6, "has_phone": True, "has_email": False, "visitor_city": "Москва",
         "utm_source": "yandex", "text": "Нужна доставка в Щёлково", "employee_id": 45012, "form_name": None}


def cond(field, operator, value=None):
    return {"field": field, "operator": operator, "value": value}


@pytest.mark.parametrize("condition, expected", [
    (cond("site", "eq", "SHOP.example.ru "), True),
    (cond("site", "ne", "example.ru"), True),
    (cond("site", "in", ["example.ru", "shop.example.ru"]), True),
    (cond("site", "not_in", ["shop.example.ru"]), False),
    (cond("site", "starts_with", "shop."), True),
    (cond("text", "contains", "щелково"), True),  # ё/е and case do not matter
    (cond("text", "not_contains", "самовывоз"), True),
    (cond("form_name", "is_empty"), True),
    (cond("form_name", "not_empty"), False),
    (cond("form_name", "eq", "Обратный звонок"), False),
    (cond("form_name", "ne", "Обратный звонок"), True),
    (cond("channel_id", "eq", 3102), True),
    (cond("channel_id", "in", [3101, 3103]), False),
    (cond("employee_id", "not_in", [45013]), True),
    (cond("hour", "between", [9, 18]), False),
    (cond("hour", "gt", 20), True),
    (cond("hour", "lt", 8), False),
    (cond("weekday", "in", [6, 7]), True),
    (cond("has_phone", "eq", True), True),
    (cond("has_email", "eq", True), False),
    (cond("tags", "contains", "vip"), True),
    (cond("tags", "not_contains", "VIP"), False),
    (cond("tags", "in", ["Розница", "Опт"]), True),
    (cond("tags", "not_in", ["Розница"]), True),
    (cond("tags", "is_empty"), False),
    (cond("visitor_region", "eq", "Москва"), False),  # unknown field value
])
def test_G1_each_operator(condition, expected):
    assert condition_holds(condition, FACTS) is expected


TWO_LEVEL = {"op": "or", "items": [
    {"op": "and", "items": [cond("site", "eq", "shop.example.ru"), cond("tags", "contains", "VIP")]},
    {"op": "and", "items": [cond("hour", "between", [9, 18]), cond("has_phone", "eq", True)]},
]}


def test_G1_two_level_and_or_names_the_deciding_condition():
    passed, why = evaluate(TWO_LEVEL, FACTS)
    assert passed and "прошло" in why and "Сайт (домен) равно «shop.example.ru»" in why and "Теги" in why
    passed, why = evaluate(TWO_LEVEL, {**FACTS, "tags": []})
    assert not passed and "отсеяно" in why and "Теги содержит «VIP»" in why and "Час" in why
    passed, why = evaluate({"op": "and", "items": [cond("has_email", "eq", True), cond("site", "eq", "x")]}, FACTS,
                           "en")
    assert not passed and why == "filtered out, fails: Has an e-mail equals «yes»"
    assert evaluate(None, FACTS) == (True, "фильтр не задан")


@pytest.mark.parametrize("tree, path, needle", [
    ({"op": "and", "items": []}, "items", "Пустая группа"),
    ({"op": "xor", "items": [cond("site", "eq", "a")]}, "op", "И или ИЛИ"),
    ({"op": "and", "items": [cond("site", "eq", "a"), {"op": "or", "items": [cond("nope", "eq", "a")]}]},
     "items[1].items[0].field", "«nope»"),
    ({"op": "and", "items": [cond("site", "gt", 3)]}, "items[0].operator", "не подходит"),
    ({"op": "and", "items": [cond("hour", "between", [18, 9])]}, "items[0].value", "больше конца"),
    ({"op": "and", "items": [cond("hour", "eq", 25)]}, "items[0].value", "от 0 до 23"),
    ({"op": "and", "items": [cond("channel_id", "eq", "3102")]}, "items[0].value", "числовой ID"),
    ({"op": "and", "items": [cond("site", "in", [])]}, "items[0].value", "через запятую"),
    ({"op": "and", "items": [cond("site", "in", ["a", ""])]}, "items[0].value[1]", "Укажите текст"),
    ({"op": "and", "items": [cond("has_phone", "eq", "да")]}, "items[0].value", "«да» или «нет»"),
    ({"op": "and", "items": [cond("site", "is_empty", "x")]}, "items[0].value", "не нужно"),
    ({"op": "and", "items": [{"op": "or", "items": [{"op": "and", "items": []}]}]}, "items[0].items[0].items",
     "Пустая"),
    ({"op": "and", "items": ["site"]}, "items[0]", "группа или условие"),
])
def test_G1_invalid_trees_report_their_position(tree, path, needle):
    errors = validate_tree(tree, CHATS)
    assert errors, tree
    assert any(e.path == path and needle in e.message for e in errors), [str(e) for e in errors]


def test_G1_field_of_another_channel_is_unknown():
    tree = {"op": "and", "items": [cond("form_name", "eq", "Заявка")]}
    assert validate_tree(tree, OFFLINE) == []
    assert validate_tree(tree, CHATS)[0].path == "items[0].field"


def test_G1_depth_and_size_limits():
    tree = cond("site", "eq", "a")
    for _ in range(MAX_DEPTH):
        tree = {"op": "and", "items": [tree]}
    assert validate_tree(tree, CHATS) == []
    too_deep = {"op": "or", "items": [tree]}
    assert any("глубокая" in e.message for e in validate_tree(too_deep, CHATS))
    wide = {"op": "and", "items": [{"op": "or", "items": [cond("site", "eq", str(i)) for i in range(20)]}
                                   for _ in range(3)]}
    assert any("Слишком много условий" in e.message for e in validate_tree(wide, CHATS))
    assert validate_tree(TWO_LEVEL, CHATS) == [] and validate_tree(None, CHATS) == []
