"""The wire contract (docs/CONTRACT.md) as msgspec structs: inbound events (events.py) and
outbound records (records.py)."""
