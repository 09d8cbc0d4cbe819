"""The JVM (Java, Kotlin, Scala): what harden knows about running maven, gradle and sbt as the
start command. A Dockerfile that builds with them is not split (shell.FOREIGN).

Hooks (harden.stacks): START_BUILD (non-root-user).
"""

from __future__ import annotations

import re

# `mvnw spring-boot:run`, `gradle bootRun`, `sbt run` as the start command compile into target/
# or build/ in the app folder and keep their dependency cache under root's home
START_BUILD = re.compile(r"(?m)^[^#\n]*?(?:^|[\s\"'/\[,;&|])((?:mvnw?|gradlew?)[\"',\s]+[\w:.-]*|"
                         r"sbt\b[\"',\s]*(?:run|~)?)")
