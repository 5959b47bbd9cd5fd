# One image for every process of the system: api (the default command), worker, beat,
# flower and the one-shot migrate step; docker-compose.yml picks the command.
FROM python:3.11-slim

# ENVIRONMENT=production: an image started without being told otherwise refuses the default
# SECRET_KEY (development accepts it); ./dev up sets development for itself.
ENV ENVIRONMENT=production \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN groupadd --system --gid 10001 funnels \
    && useradd --system --uid 10001 --gid funnels --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin funnels \
    && mkdir -p /var/lib/funnels/assets \
    && chown funnels:funnels /var/lib/funnels/assets

# The runtime dependencies first, from pyproject.toml alone, so that a code change does not
# reinstall them (no dev extras).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY api/ api/
COPY domain/ domain/
COPY workers/ workers/
COPY migrations/ migrations/
COPY beat_schedule.py alembic.ini ./

# The project itself (its dependencies are in place already). The sources stay in /app too:
# alembic.ini finds migrations/ next to it.
RUN pip install --no-deps . \
    && rm -rf build ./*.egg-info

USER funnels

EXPOSE 8000

CMD ["uvicorn", "api.main:app", "--host", "0.0.0.0", "--port", "8000"]
