# The hooks service: gunicorn serving hooks:create_app() over TLS on :8443 (MCSA_BIND), and with
# MCSA_WEBHOOK_BIND=0.0.0.0:9443 (as manifests/base/hooks.yaml sets it) the webhook on :9443 and the hooks on
# :8443 only. Without it, :8443 serves every path.
# Mount the serving certificate at /etc/multicluster-service-account/tls (tls.crt, tls.key).
FROM python:3.11-slim-bookworm AS build
COPY requirements.txt /tmp/requirements.txt
# Byte-compiled here: the root filesystem is read-only at run time, so without .pyc files every start
# would compile the Kubernetes client's largest modules again (about 100 MB more memory and seconds more
# CPU in the certificate step).
RUN pip install --no-cache-dir --prefix=/install -r /tmp/requirements.txt

FROM python:3.11-slim-bookworm
COPY --from=build /install /usr/local
WORKDIR /app
COPY hooks/ hooks/
RUN python -m compileall -q hooks/
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MCSA_TLS_CERT_FILE=/etc/multicluster-service-account/tls/tls.crt \
    MCSA_TLS_KEY_FILE=/etc/multicluster-service-account/tls/tls.key
# Non-root; the root filesystem may be read-only (mount an emptyDir at /tmp for gunicorn and metrics).
USER 65532:65532
EXPOSE 8443 9443
ENTRYPOINT ["gunicorn", "-c", "hooks/gunicorn.conf.py", "hooks:create_app()"]
