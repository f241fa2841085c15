# st-chat on Debian 12 with the same packages and build as scripts/run.sh (scripts/lib.sh).
# One image for every service of docker-compose.yml: stchat, and Postgres 15 and nats-server as
# Debian packages them (scripts/docker-entrypoint.sh picks the role).
FROM debian:12
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /opt/stchat
COPY scripts/lib.sh scripts/lib.sh
RUN bash -c 'source scripts/lib.sh && stchat_install_packages' && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build && bash -c 'source scripts/lib.sh && stchat_build OFF' \
    && ln -s /opt/stchat/build/stchat /usr/local/bin/stchat
ENTRYPOINT ["/opt/stchat/scripts/docker-entrypoint.sh"]
CMD ["stchat", "--help"]
