"""The tidy trial dataset: the one contract between producers and the analysis.

Producers (``frailtrial.simulate``, the EDC export, a user's CSVs) write it; the analysis
reads it. It lives in its own package, importing only ``protocol``, so that both sides can
use it without the simulator depending on the analysis.
"""

from frailtrial.dataset.io import TrialDataset, read_dataset, validate_dataset, write_dataset
from frailtrial.dataset.problems import DatasetError
from frailtrial.dataset.schema import FILES, FileSchema

__all__ = [
    "FILES",
    "DatasetError",
    "FileSchema",
    "TrialDataset",
    "read_dataset",
    "validate_dataset",
    "write_dataset",
]
