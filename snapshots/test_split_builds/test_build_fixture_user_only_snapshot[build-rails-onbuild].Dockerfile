FROM rails:onbuild
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --create-home --home-dir /home/app app \
    && mkdir -p /usr/src/app/tmp /usr/src/app/log \
    && chown -R 10001:10001 /usr/src/app/tmp /usr/src/app/log
USER 10001:10001
