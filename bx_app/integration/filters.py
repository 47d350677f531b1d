"""Scenario filters: validate an AND/OR tree of "field — operator — value" conditions and evaluate it on facts.

    FilterTree = {"op": "and" | "or", "items": [FilterTree | Condition]}
    Condition  = {"field": str, "operator": str, "value": any}

Values by operator: none for is_empty / not_empty, a non-empty list for in / not_in, [low, high] for
between, a single value otherwise; typed after the field (str, int or float, int ids, bool).
String comparisons ignore case, surrounding spaces and ё/е.
"""
from __future__ import annotations

from dataclasses import dataclass

from bx_app.integration import event_fields as ef
from bx_app.integration.words import Translate, russian

MAX_DEPTH = 4  # the root group is level 1; groups nest down to level 4
MAX_CONDITIONS = 50
MAX_ITEMS = 20  # per group
MAX_VALUE_LENGTH = 500
MAX_LIST = 100
GROUP_OPS = ("and", "or")


@dataclass(frozen=True)
class TreeError:
    """One problem of a tree: where (``items[1].items[0].value``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def is_group(node) -> bool:
    return isinstance(node, dict) and "items" in node


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _check_scalar(field: ef.EventField, value, path: str, errors: list[TreeError], _: Translate) -> None:
    if field.type == ef.STRING or field.type == ef.TAGS:
        if not isinstance(value, str) or not value.strip():
            errors.append(TreeError(path, _("Укажите текст.")))
        elif len(value) > MAX_VALUE_LENGTH:
            errors.append(TreeError(path, _("Не длиннее %(n)d символов.", n=MAX_VALUE_LENGTH)))
    elif field.type == ef.ID:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(TreeError(path, _("Нужен числовой ID.")))
    elif field.type == ef.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(TreeError(path, _("Нужно число.")))
        elif (field.minimum is not None and value < field.minimum) or (
                field.maximum is not None and value > field.maximum):
            errors.append(TreeError(path, _("Число от %(lo)d до %(hi)d.", lo=field.minimum, hi=field.maximum)))
    elif field.type == ef.BOOL and not isinstance(value, bool):
        errors.append(TreeError(path, _("Нужно «да» или «нет».")))


def _check_condition(node: dict, catalog: dict, path: str, errors: list[TreeError], _: Translate) -> None:
    name = node.get("field")
    field = catalog.get(name) if isinstance(name, str) else None
    if field is None:
        errors.append(TreeError(_join(path, "field"), _("Неизвестное поле «%(name)s».", name=name or "")))
        return
    operator = node.get("operator")
    if operator not in field.operators:
        errors.append(TreeError(_join(path, "operator"),
                                _("Оператор «%(op)s» не подходит для поля «%(name)s».",
                                  op=operator or "", name=field.label_ru)))
        return
    value = node.get("value")
    value_path = _join(path, "value")
    if operator in ef.NO_VALUE:
        if value not in (None, "", []):
            errors.append(TreeError(value_path, _("Для этого оператора значение не нужно.")))
    elif operator in ef.LIST_VALUE:
        if not isinstance(value, list) or not value:
            errors.append(TreeError(value_path, _("Укажите значения через запятую.")))
        elif len(value) > MAX_LIST:
            errors.append(TreeError(value_path, _("Не больше %(n)d значений.", n=MAX_LIST)))
        else:
            for index, item in enumerate(value):
                _check_scalar(field, item, f"{value_path}[{index}]", errors, _)
    elif operator in ef.RANGE_VALUE:
        if not isinstance(value, list) or len(value) != 2:
            errors.append(TreeError(value_path, _("Укажите два числа через запятую: от, до.")))
        else:
            before = len(errors)
            _check_scalar(field, value[0], f"{value_path}[0]", errors, _)
            _check_scalar(field, value[1], f"{value_path}[1]", errors, _)
            if len(errors) == before and value[0] > value[1]:
                errors.append(TreeError(value_path, _("Начало диапазона больше конца.")))
    else:
        _check_scalar(field, value, value_path, errors, _)
    extra = set(node) - {"field", "operator", "value"}
    if extra:
        errors.append(TreeError(path, _("Лишние ключи: %(keys)s.", keys=", ".join(sorted(extra)))))


def validate_tree(tree, catalog: dict, _: Translate = russian) -> list[TreeError]:
    """Every problem of the tree with its position; [] when it can be stored. ``None`` (no filter) is fine."""
    if tree is None:
        return []
    errors: list[TreeError] = []
    count = [0]

    def walk(node, path: str, depth: int) -> None:
        if not isinstance(node, dict):
            errors.append(TreeError(path, _("Ожидалась группа или условие.")))
            return
        if not is_group(node):
            count[0] += 1
            _check_condition(node, catalog, path, errors, _)
            return
        if depth > MAX_DEPTH:
            errors.append(TreeError(path, _("Слишком глубокая вложенность групп (не больше %(n)d уровней).",
                                            n=MAX_DEPTH)))
            return
        if node.get("op") not in GROUP_OPS:
            errors.append(TreeError(_join(path, "op"), _("Группа соединяется через И или ИЛИ.")))
        items = node.get("items")
        if not isinstance(items, list) or not items:
            errors.append(TreeError(_join(path, "items"), _("Пустая группа: добавьте условие.")))
            return
        if len(items) > MAX_ITEMS:
            errors.append(TreeError(_join(path, "items"), _("Не больше %(n)d элементов в группе.", n=MAX_ITEMS)))
        for index, item in enumerate(items):
            walk(item, _join(path, f"items[{index}]"), depth + 1)

    walk(tree, "", 1)
    if count[0] > MAX_CONDITIONS:
        errors.append(TreeError("", _("Слишком много условий (не больше %(n)d).", n=MAX_CONDITIONS)))
    return errors


# --- evaluation ------------------------------------------------------------------------------------
def _norm(value):
    if isinstance(value, str):
        return " ".join(value.replace("ё", "е").replace("Ё", "Е").split()).casefold()
    return value


def _equal(actual, expected) -> bool:
    if actual is None:
        return False
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected or actual == expected
    if isinstance(expected, (int, float)) and not isinstance(actual, str):
        return actual == expected
    return _norm(str(actual)) == _norm(str(expected))


def _empty(actual) -> bool:
    return actual is None or actual == "" or actual == []


def _number(actual):
    if isinstance(actual, bool) or actual is None:
        return None
    if isinstance(actual, (int, float)):
        return actual
    try:
        return float(actual)
    except (TypeError, ValueError):
        return None


def condition_holds(condition: dict, facts: dict) -> bool:
    operator = condition["operator"]
    value = condition.get("value")
    actual = facts.get(condition["field"])
    if operator == "is_empty":
        return _empty(actual)
    if operator == "not_empty":
        return not _empty(actual)
    if isinstance(actual, list):  # tags
        names = {_norm(str(a)) for a in actual}
        if operator == "contains":
            return _norm(str(value)) in names
        if operator == "not_contains":
            return _norm(str(value)) not in names
        if operator == "in":
            return any(_norm(str(v)) in names for v in value)
        if operator == "not_in":
            return not any(_norm(str(v)) in names for v in value)
        return False
    if operator == "eq":
        return _equal(actual, value)
    if operator == "ne":
        return not _equal(actual, value)
    if operator == "in":
        return any(_equal(actual, v) for v in value)
    if operator == "not_in":
        return not any(_equal(actual, v) for v in value)
    if operator in ("contains", "not_contains", "starts_with"):
        text, needle = _norm(str(actual)) if actual is not None else None, _norm(str(value))
        if operator == "contains":
            return text is not None and needle in text
        if operator == "not_contains":
            return text is None or needle not in text
        return text is not None and text.startswith(needle)
    number = _number(actual)
    if number is None:
        return False
    if operator == "gt":
        return number > value
    if operator == "lt":
        return number < value
    if operator == "between":
        return value[0] <= number <= value[1]
    raise ValueError(f"unknown operator {operator!r}")


def _value_text(value, lang: str) -> str:
    if isinstance(value, bool):
        return ("yes" if value else "no") if lang == "en" else ("да" if value else "нет")
    if isinstance(value, list):
        return ", ".join(_value_text(v, lang) for v in value)
    return "" if value is None else str(value)


def describe(condition: dict, lang: str = "ru") -> str:
    """``Сайт (домен) равно shop.example.ru`` in the page's language."""
    field = ef.FIELDS.get(condition.get("field"))
    label = field.label(lang) if field else str(condition.get("field"))
    words = ef.OPERATOR_LABELS.get(condition.get("operator"), (condition.get("operator"),) * 2)
    operator = words[1] if lang == "en" else words[0]
    if condition.get("operator") in ef.NO_VALUE:
        return f"{label} {operator}"
    value = condition.get("value")
    if condition.get("operator") == "between" and isinstance(value, list) and len(value) == 2:
        shown = f"{value[0]} … {value[1]}"
    else:
        shown = _value_text(value, lang)
    return f"{label} {operator} «{shown}»"


def _evaluate(node: dict, facts: dict) -> tuple[bool, list[dict]]:
    if not is_group(node):
        return condition_holds(node, facts), [node]
    deciders: list[dict] = []
    if node["op"] == "and":
        for item in node["items"]:
            passed, decided = _evaluate(item, facts)
            if not passed:
                return False, decided
            deciders.extend(decided)
        return True, deciders
    for item in node["items"]:
        passed, decided = _evaluate(item, facts)
        if passed:
            return True, decided
        deciders.extend(decided)
    return False, deciders


def evaluate(tree, facts: dict, lang: str = "ru") -> tuple[bool, str]:
    """(passed, explanation naming the deciding condition(s)); no tree means every event passes."""
    if tree is None:
        return True, ("no filter" if lang == "en" else "фильтр не задан")
    passed, deciders = _evaluate(tree, facts)
    shown = [describe(c, lang) for c in deciders[:3]]
    if len(deciders) > 3:
        shown.append("…")
    if passed:
        prefix = "passed, holds: " if lang == "en" else "прошло, выполнено: "
    else:
        prefix = "filtered out, fails: " if lang == "en" else "отсеяно, не выполнено: "
    joiner = "; "
    return passed, prefix + joiner.join(shown)


def fields_used(tree) -> set[str]:
    """Names of the fields a tree refers to."""
    if tree is None:
        return set()
    if is_group(tree):
        return set().union(*(fields_used(item) for item in tree.get("items") or [])) if tree.get("items") else set()
    return {tree.get("field")}
