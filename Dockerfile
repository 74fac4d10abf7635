# A bounceback worker image. `docker compose up` runs it beside a single-node Kafka.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY projections projections
COPY streams streams
COPY bounceback bounceback
COPY examples examples
RUN pip install --no-cache-dir .
ENTRYPOINT ["bounceback"]
CMD ["--help"]
