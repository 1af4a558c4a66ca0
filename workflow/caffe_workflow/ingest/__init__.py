"""The ingest's parts, by job; stages/ingest.py runs them in order.

- catalog_reader: the catalog, checked, then read in chunks;
- fields: the managed sample fields and how FiftyOne types them;
- samples: a catalog row -> a sample's values, new and changed samples;
- schema: the dataset's schema, mask targets, App config and info;
- views: the managed saved views;
- models: the scored models' fields, evaluation runs and views;
- brain: the brain runs on the embeddings.
"""
