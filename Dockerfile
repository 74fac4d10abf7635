# A bounceback worker image. `docker compose up` runs it beside a single-node Kafka.
FROM python:3.11-slim
WORKDIR /app
# The whole build context less what .dockerignore leaves out: so every package pyproject.toml
# lists is here without being named twice, and examples/ for `publish examples/sample.jsonl`.
COPY . .
# Only the project itself is installed: its dependencies come with the version ranges
# pyproject.toml gives them, and nothing is pinned here besides.
RUN pip install --no-cache-dir .
ENTRYPOINT ["bounceback"]
CMD ["--help"]
