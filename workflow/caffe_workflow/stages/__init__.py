"""One module per workflow stage, named as its rule file (workflow/rules/),
its rule and its script (workflow/scripts/): fetch, process, catalog,
predict, evaluate, ingest, plots."""
