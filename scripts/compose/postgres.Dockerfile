# Stand-in for the postgres image in the Compose test (no registry here):
# Debian's PostgreSQL on loadlab's base image, trusting the network as the
# compose file's POSTGRES_HOST_AUTH_METHOD=trust asks of the real image.
ARG BASE
FROM ${BASE}
COPY postgres-entrypoint /usr/local/bin/postgres-entrypoint
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
