"""The ground floor: ids and units, the Parquet table contract, Neo4j settings, the managed
local server, the schema, loaders and the parameterised Cypher query library.

Nothing here imports from the floors above (``ingest``, ``api``, ``reports``, ``connectome``).
"""
