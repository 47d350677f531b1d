"""G1 property tests: an AND/OR tree evaluates like the equivalent Python boolean expression."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bx_app.integration import event_fields as ef
from bx_app.integration.filters import evaluate, validate_tree

NAMES = ["has_phone", "has_email"]
VARS = ["a", "b", "c", "d"]


def leaf():
    return st.builds(lambda var, want: {"field": var, "operator": "eq", "value": want},
                     st.sampled_from(VARS), st.booleans())


trees = st.recursive(leaf(), lambda children: st.builds(
    lambda op, items: {"op": op, "items": items}, st.sampled_from(["and", "or"]),
    st.lists(children, min_size=1, max_size=4)), max_leaves=12)


def python_expression(node) -> str:
    if "items" in node:
        joiner = f" {node['op']} "
        return "(" + joiner.join(python_expression(i) for i in node["items"]) + ")"
    return f"({node['field']} == {node['value']!r})"


@settings(max_examples=300, deadline=None)
@given(tree=trees, values=st.fixed_dictionaries({v: st.booleans() for v in VARS}))
def test_G1_tree_evaluates_like_python(tree, values):
    root = tree if "items" in tree else {"op": "and", "items": [tree]}
    expected = eval(python_expression(root), {}, dict(values))  # noqa: S307 - our own generated expression
    passed, why = evaluate(root, values)
    assert passed is expected
    assert why.startswith("прошло" if expected else "отсеяно")


@settings(max_examples=100, deadline=None)
@given(tree=trees)
def test_G1_generated_bool_trees_validate_with_real_fields(tree):
    mapping = dict(zip(VARS, NAMES * 2, strict=True))

    def rename(node):
        if "items" in node:
            return {"op": node["op"], "items": [rename(i) for i in node["items"]]}
        return {**node, "field": mapping[node["field"]]}

    root = rename(tree if "items" in tree else {"op": "and", "items": [tree]})
    errors = validate_tree(root, ef.catalog_for("chats"))
    assert all("глубокая" in e.message or "Слишком много" in e.message for e in errors)
