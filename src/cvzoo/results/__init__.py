"""Run records (``result.json``): writing, finding and reading them, and tables built from them."""

from cvzoo.results.record import (
    RECORD_NAME,
    SCHEMA_VERSION,
    config_hash,
    get_value,
    load_record,
    write_record,
)

__all__ = [
    "RECORD_NAME",
    "SCHEMA_VERSION",
    "config_hash",
    "get_value",
    "load_record",
    "write_record",
]
