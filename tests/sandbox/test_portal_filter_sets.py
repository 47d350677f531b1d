"""The sandbox's list filter answers the same whether an IN list is scanned per record or made a set once."""
from hypothesis import given
from hypothesis import strategies as st

from bx_app.sandbox.portal.crm import matcher, matches

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-3, 30), st.sampled_from(["", " 7", "07", "a", "Y", "uis:5"]),
                   st.integers(0, 30).map(str))
FIELD_VALUES = st.one_of(VALUES, st.lists(VALUES, max_size=3))
KEYS = st.sampled_from(["ORIGIN_ID", "@ORIGIN_ID", "!@ORIGIN_ID", "@ID", "!ID", "ASSIGNED_BY_ID"])


@given(record=st.fixed_dictionaries({"ID": FIELD_VALUES, "ORIGIN_ID": FIELD_VALUES, "ASSIGNED_BY_ID": FIELD_VALUES}),
       conditions=st.dictionaries(KEYS, st.one_of(VALUES, st.lists(VALUES, max_size=6),
                                                  st.dictionaries(st.sampled_from("abc"), VALUES, max_size=3)),
                                  max_size=3))
def test_in_lists_made_sets_filter_as_the_scan_does(record, conditions):
    assert matcher(conditions)(record) == matches(record, conditions)
