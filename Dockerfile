# The REST API in a container. Build after `dvc repro` (or `dvc pull`), so that
# models/model.joblib and its card models/model.json exist:
#   docker build -t music-genre .
#   docker run --rm -p 8080:8080 music-genre
# or mount another model: docker run -v $PWD/models:/app/models:ro -p 8080:8080 music-genre
# It follows SageMaker's container contract: started as `<image> serve`, it answers GET /ping and
# POST /invocations on port 8080 (set PORT to change it; --workers N, default one per CPU).
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
# The references of /drift: the training data's profile and the test split's predicted genres.
COPY --chown=app data/reference_profile.json ./data/
COPY --chown=app plots/evaluate/custom/per_genre.json ./plots/evaluate/custom/
USER app

# 0.0.0.0 inside the container only: docker's -p decides what the host exposes.
ENV PORT=8080 MUSIC_GENRE_HOST=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import os, urllib.request, sys; sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/ping').status != 200)"
ENTRYPOINT ["music-genre"]
CMD ["serve", "--model", "models/model.joblib"]
