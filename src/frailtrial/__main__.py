"""``python -m frailtrial`` runs the command line."""

from frailtrial.cli.main import console

console()
