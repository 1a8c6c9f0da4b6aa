"""Randomization: allocation lists generated from a protocol and their SHA-256 commitment."""

from frailtrial.randomization.lists import (
    commitment,
    generate_list,
    parse_list,
    read_list,
    strata_labels,
    verify_list,
    write_list,
)

__all__ = [
    "commitment",
    "generate_list",
    "parse_list",
    "read_list",
    "strata_labels",
    "verify_list",
    "write_list",
]
