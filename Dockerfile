# One image for the web server and the Celery worker:
#   web:    docker run IMAGE            (scripts/serve.sh: gunicorn + uvicorn workers on :$PORT, 8000)
#   worker: docker run IMAGE worker     (celery worker)
# Configure with DATABASE_URL, REDIS_URL, DJANGO_SECRET_KEY, WEB_CONCURRENCY, VFRAME_*
# (docs/operations.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VFRAME_DATA_DIR=/data PIP_NO_CACHE_DIR=1 PORT=8000
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements/ requirements/
# CPU wheels of torch keep the image small; the pins match requirements/base.txt.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.14.1 torchvision==0.29.1 \
    && pip install -r requirements/base.txt \
    && pip install --no-deps -r requirements/nodeps.txt
COPY . .
RUN VFRAME_DATA_DIR=/tmp/build-data python manage.py collectstatic --noinput \
    && useradd --create-home vframe && mkdir -p /data && chown vframe /data
USER vframe
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["/app/scripts/entrypoint.sh"]
CMD ["web"]
