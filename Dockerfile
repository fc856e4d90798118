# The REST API in a container. Build after `dvc repro` (or `dvc pull`), so that
# models/model.joblib and its card models/model.json exist:
#   docker build -t music-genre .
#   docker run --rm -p 8000:8000 music-genre
# or mount another model: docker run -v $PWD/models:/app/models:ro -p 8000:8000 music-genre
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# LightGBM (the default model) links the system's OpenMP runtime, which the slim image lacks.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first (pinned), so code changes do not reinstall them.
COPY requirements.txt pyproject.toml README.md ./
COPY src ./src
RUN pip install -r requirements.txt

RUN useradd --create-home --uid 10001 app
COPY --chown=app models/model.joblib models/model.json ./models/
USER app

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
# 0.0.0.0 inside the container only: docker's -p decides what the host exposes.
CMD ["music-genre", "serve", "--model", "models/model.joblib", "--host", "0.0.0.0", "--port", "8000"]
