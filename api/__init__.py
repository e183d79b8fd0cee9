"""The API floor: the FastAPI app with GraphQL (strawberry), neuPrint's HTTP subset, bearer
tokens and HTTPS, and the Neuroglancer data of each data set. It reads the graph only through
``graph/`` and imports nothing of ``ingest``, ``reports`` or ``connectome``."""
