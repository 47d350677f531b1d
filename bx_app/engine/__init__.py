"""The engine: a portal's pending events into Bitrix24 along the data path, a group at a time.

prepare (gates, enrichment → in-memory facts) → lookup (one shared read round, a second for open entities)
→ plan (pure, bx_app.integration.planner) → write (shared batches) → journal (each event's fate);
drain runs it for one portal's pending set.
"""
