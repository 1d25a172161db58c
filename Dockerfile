# One image for both services; the command picks which (see docker-compose.yml).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY shared ./shared
COPY services ./services
COPY sandbox ./sandbox
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install -c constraints.txt .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN useradd --system --uid 10001 --home-dir /app signdeal && mkdir -p /app/data && chown signdeal /app/data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
USER signdeal
EXPOSE 8080 8081
CMD ["python", "-m", "services.ingest"]
