"""Instrument library: one module per instrument, each registered by name.

``frailtrial.instruments.get("sf36").score({...})`` scores one set of answers. The registry
names the module and class of each instrument; a module is imported when its instrument is
first asked for.
"""

from __future__ import annotations

from typing import Any

from frailtrial.instruments.base import Instrument, Item, Registry, validate_answers

REGISTRY = Registry(
    {
        "6mwd": "sixmwd:SixMWD",
        "cfs": "cfs:CFS",
        "cytokine": "labs:Cytokine",
        "egfr": "labs:EGFR",
        "eq5d3l": "eq5d:EQ5D3L",
        "eq5d5l": "eq5d:EQ5D5L",
        "fev1": "fev1:FEV1",
        "flow_cytometry": "flow:FlowCytometry",
        "fried": "fried:Fried",
        "grip": "grip:Grip",
        "psqi": "psqi:PSQI",
        "sf36": "sf36:SF36",
        "sppb": "sppb:SPPB",
        "sqolf": "sqolf:SQOLF",
        "sts5": "sts5:STS5",
        "tug": "tug:TUG",
        "walk4m": "walk4m:Walk4m",
    }
)


def get(name: str, **options: Any) -> Instrument:
    """The instrument registered under ``name``, configured with ``options``."""
    return REGISTRY.get(name, **options)


def names() -> list[str]:
    """Names of every registered instrument."""
    return REGISTRY.names()


__all__ = ["REGISTRY", "Instrument", "Item", "get", "names", "validate_answers"]
