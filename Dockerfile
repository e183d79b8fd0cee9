# The API (and the ingest command) as a container; Neo4j runs in its own (docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY connectome ./connectome
COPY ingest ./ingest
COPY graph ./graph
COPY api ./api
COPY models ./models
COPY web ./web
RUN pip install --no-cache-dir . && mkdir -p /data
ENV CONNECTOME_DATA_DIR=/data CONNECTOME_API_WEB_DIR=/app/web
EXPOSE 8000
CMD ["connectome", "serve", "--host", "0.0.0.0", "--port", "8000"]
