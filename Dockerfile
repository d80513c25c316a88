FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY plugins plugins
COPY lead_scoring lead_scoring
RUN pip install --no-cache-dir .
RUN useradd --system --home /data crm-sync && mkdir -p /data && chown crm-sync /data
USER crm-sync
ENV CRM_SYNC_DATA_DIR=/data
EXPOSE 8000
CMD ["crm-sync", "serve", "--host", "0.0.0.0", "--port", "8000"]
