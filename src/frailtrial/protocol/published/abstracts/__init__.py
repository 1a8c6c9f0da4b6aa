"""What the published abstracts of the built-in trials state, one YAML file per trial."""
