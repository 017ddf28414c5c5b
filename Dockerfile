# The API image: Debian's SpatiaLite for the embedded mode, PostGIS through DATABASE_URL.
FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-mod-spatialite \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY geodata ./geodata
COPY offline_sync ./offline_sync
RUN pip install --no-cache-dir .
ENV SPATIALITE_LIBRARY_PATH=mod_spatialite
# Without DATABASE_URL the image keeps its own SpatiaLite file in /data (mount a volume there).
RUN mkdir /data && chown nobody /data
ENV DATABASE_URL=sqlite:////data/alluvial.sqlite
EXPOSE 8000
USER nobody
CMD ["sh", "-c", "python -m backend migrate && python -m backend serve --host 0.0.0.0 --port 8000"]
