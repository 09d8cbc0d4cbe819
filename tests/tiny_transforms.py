"""Two deterministic transforms for the integration tests (pragmas, JSON, SARIF): they do not
change when the real transforms do. Pass them to ``harden.engine.run(path, opts, transforms=[...])``."""

from __future__ import annotations

from harden.transform import Transform


class AddLabel(Transform):
    """What it does: adds `labels: {hardened: "true"}` to every compose service.

    Why: a visible marker for the tests.

    Example: (before -> after) a service gains a labels key.

    Safety: none; labels change nothing at run time.

    When it refuses: never.
    """

    name = "add-label"
    summary = "Label every service"
    kind = "compose"

    def apply(self, project, ctx):
        for svc in project.services():
            if ctx.service_suppressed(svc):
                continue
            if "labels" in svc.merged:
                continue
            ctx.note(f"labelled {svc.name}", line=svc.line)
            svc.doc.add_key(svc.node, "labels", {"hardened": "true"})


class StageLabel(Transform):
    """What it does: adds `LABEL stage=NAME` after the FROM of every Dockerfile stage.

    Why: a visible marker for the tests.

    Example: (before -> after) FROM x / LABEL stage=0.

    Safety: none.

    When it refuses: a stage whose FROM line holds `refuse`.
    """

    name = "stage-label"
    summary = "Label every stage"
    kind = "dockerfile"

    def apply(self, unit, ctx):
        doc = unit.doc
        for stage in reversed(doc.stages):
            if ctx.stage_suppressed(doc, stage):
                continue
            if "refuse" in stage.from_.value:
                ctx.skip_part(f"stage {stage.name}", "asked to refuse", line=stage.startline + 1)
                continue
            doc.insert_lines(stage.from_.endline + 1, [f"LABEL stage={stage.name}"])


TINY = [AddLabel, StageLabel]
