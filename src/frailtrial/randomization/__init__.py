"""Randomization: allocation lists generated from a protocol and their SHA-256 commitment."""

from frailtrial.randomization.lists import (
    ListHeader,
    commitment,
    generate_list,
    list_bytes,
    list_seed,
    parse_header,
    parse_list,
    read_list,
    rows_bytes,
    strata_labels,
    stratum_label,
    take_in_order,
    verify_list,
    write_list,
)

__all__ = [
    "ListHeader",
    "commitment",
    "generate_list",
    "list_bytes",
    "list_seed",
    "parse_header",
    "parse_list",
    "read_list",
    "rows_bytes",
    "strata_labels",
    "stratum_label",
    "take_in_order",
    "verify_list",
    "write_list",
]
