# The app's image: web (gunicorn, the default command), worker and scheduler (see compose.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user owns nothing but its home: the code is root's and read-only to it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home app

WORKDIR /srv/app
COPY pyproject.toml README.md ./
COPY bx_app ./bx_app
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY translations ./translations
COPY wsgi.py babel.cfg gunicorn.conf.py ./
# Editable: templates, migrations and translations are read next to the package, from /srv/app.
RUN pip install -e . \
    && python -m compileall -q bx_app

USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# WEB_CONCURRENCY (gunicorn's own variable) sets the number of worker processes.
CMD ["gunicorn", "wsgi:app", "--bind", "0.0.0.0:8000", "--threads", "4", "--access-logfile", "-", "--forwarded-allow-ips", "*"]
