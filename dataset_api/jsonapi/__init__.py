"""JSON:API plumbing: query-string normalisation, query parsing, query building, documents."""
