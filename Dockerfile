# The API (and the ingest command) as a container; Neo4j runs in its own (docker-compose.yml).

# Neuroglancer's standalone client: the npm tarball (api/neuroglancer.py pins the version and
# checks its sha512 when it unpacks it below)
FROM node:20-slim AS neuroglancer
WORKDIR /pack
RUN npm pack @janelia-flyem/neuroglancer@2.37.5 --silent

FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectome ./connectome
COPY ingest ./ingest
COPY graph ./graph
COPY api ./api
COPY reports ./reports
COPY models ./models
COPY web ./web
COPY --from=neuroglancer /pack /tmp/neuroglancer
RUN pip install --no-cache-dir . && mkdir -p /data \
    && python -m api.neuroglancer install --tarball /tmp/neuroglancer/*.tgz \
    && rm -rf /tmp/neuroglancer
ENV CONNECTOME_DATA_DIR=/data CONNECTOME_API_WEB_DIR=/app/web
EXPOSE 8000
CMD ["connectome", "serve", "--host", "0.0.0.0", "--port", "8000"]
