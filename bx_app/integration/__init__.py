"""The product's logic as pure functions over plain data: contact data, planning, titles, filters."""
