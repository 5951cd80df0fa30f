# Stand-in for the redis image in the Compose test (no registry here):
# Debian's Redis on loadlab's base image. As the real image does when given
# no configuration file, it turns protected mode off, so other containers
# may connect.
ARG BASE
FROM ${BASE}
EXPOSE 6379
ENTRYPOINT ["/bin/sh", "-c", "exec setpriv --reuid=redis --regid=redis --init-groups \"$@\" --protected-mode no", "redis"]
CMD ["redis-server"]
