# The demo newspaper behind the paywall. See docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md setup.py build_backend.py ./
COPY paywall ./paywall
COPY templates ./templates
COPY config ./config
RUN pip install --no-cache-dir .
EXPOSE 8000
CMD ["paywall", "demo", "--host", "0.0.0.0", "--port", "8000", "--config", "config/paywall.yaml"]
