"""Argo CD notifications: on with a receiver URL (a secret the program writes to a Secret, never
to the Helm values), off without one; every format's body is what its receiver expects.

The runs go through the ArgoCd component as `__main__.py` builds it (config loaded by
`config.load`, the component given `notifications_url` and `notifications_format`), in a small
program of its own, so they hold whatever else the stack builds. Bodies are rendered by the
pinned Helm's Go templates and Sprig (`tpl`), the engine Argo CD's notifications use too
(notifications-engine `pkg/templates/service.go`: text/template with Sprig's functions).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.argocd import notifications
from components.argocd.notifications import (
    EVENTS,
    RECEIVER,
    URL_KEY,
    body_template,
    message_template,
)
from components.argocd.values import APPLICATION_HEALTH_KEY, argocd_values
from config import validate
from offline.graph import plan_document
from offline.recorder import SECRET
from offline.run import ProgramRun, run_program
from offline.validators import helm_render
from tests.conftest import NS, stack_values, with_key

K8S = "v1.36.2"
URL = "https://hooks.example.com/services/T0000/B0000/s3cr3t-receiver-token"
SECRET_TYPE = "kubernetes:core/v1:Secret"
APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
COMPONENT = "talos-platform:argocd:ArgoCd"
ARGOCD_URL = "https://argocd.example.com"

PROGRAM = """\
import pulumi
import pulumi_kubernetes as k8s

from components.argocd import ArgoCd, ArgoCdArgs
from config import load

stack, secrets = load()
ArgoCd(
    "argocd",
    ArgoCdArgs(
        environment=stack.environment,
        chart_version=stack.argocd_chart_version,
        external_url=stack.argocd_url or f"https://argocd.{stack.cloudflare.zone}",
        gitops=stack.gitops,
        k8s_provider=k8s.Provider("k8s", kubeconfig=pulumi.Output.secret("kubeconfig")),
        gitops_token=secrets.gitops_token,
        notifications_url=secrets.argocd_notifications_url,
        notifications_format=stack.argocd_notifications.format,
    ),
)
"""


@lru_cache(maxsize=8)
def _run(fmt: str | None, url: str | None) -> ProgramRun:
    values, secrets = stack_values("dev")
    if fmt is not None:
        values = with_key(values, "argocd_notifications", {"format": fmt})
    if url is not None:
        values[f"{NS}:argocd_notifications_url"] = url
        secrets = secrets | {f"{NS}:argocd_notifications_url"}
    with tempfile.TemporaryDirectory(prefix="argocd-program-") as tmp:
        program = Path(tmp) / "__main__.py"
        program.write_text(PROGRAM)
        return run_program(values, set(secrets), "dev", program=program)


def _one(run: ProgramRun, token: str, name: str | None = None) -> Any:
    (found,) = [r for r in run.registrations if r.type == token and name in (None, r.name)]
    return found


def _release_resource(run: ProgramRun) -> dict[str, Any]:
    release = _one(run, helm_render.RELEASE_TYPE)
    return {"type": helm_render.RELEASE_TYPE, "name": release.name, "inputs": release.inputs}


def _notification_secrets(run: ProgramRun) -> list[Any]:
    return [
        r
        for r in run.registrations
        if r.type == SECRET_TYPE and r.inputs["metadata"]["name"] == notifications.SECRET_NAME
    ]


def _rendered(run: ProgramRun) -> list[dict[str, Any]]:
    return helm_render.render_release(_release_resource(run), K8S)


# --- With and without a receiver ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", notifications.FORMATS)
def test_with_a_url_the_program_writes_the_secret_after_the_release(fmt: str) -> None:
    run = _run(fmt, URL)
    (secret,) = _notification_secrets(run)
    release = _one(run, helm_render.RELEASE_TYPE)
    component = _one(run, COMPONENT)
    assert secret.parent == component.urn
    assert release.urn in secret.dependencies
    assert secret.inputs["metadata"]["namespace"] == "argocd"
    # Secret in the request (the SDK marks all of `stringData`; the program the URL itself).
    assert secret.inputs["stringData"] == SECRET
    assert "stringData" in secret.secret_inputs
    # The root's first sync finds the receiver.
    assert secret.urn in _one(run, APPLICATION).dependencies


@pytest.mark.parametrize("fmt", notifications.FORMATS)
def test_the_url_is_in_no_value_and_no_output(fmt: str) -> None:
    run = _run(fmt, URL)
    release = _one(run, helm_render.RELEASE_TYPE)
    assert not [path for path in release.secret_inputs if path.startswith("values")]
    assert URL not in json.dumps(release.inputs)
    assert "s3cr3t" not in json.dumps(plan_document(run))
    values = release.inputs["values"]
    service = values["notifications"]["notifiers"][f"service.webhook.{RECEIVER}"]
    assert yaml.safe_load(service)["url"] == f"${URL_KEY}"


@pytest.mark.parametrize("fmt", [None, "slack"])
def test_without_a_url_notifications_are_off_and_nothing_of_them_exists(fmt: str | None) -> None:
    run = _run(fmt, None)
    assert _notification_secrets(run) == []
    values = _one(run, helm_render.RELEASE_TYPE).inputs["values"]
    assert values["notifications"] == {"enabled": False}
    names = [o["metadata"]["name"] for o in _rendered(run)]
    assert [n for n in names if "notifications" in n] == []


def test_a_format_without_a_url_is_valid_config_and_warns_nothing() -> None:
    # The format has a default and may sit in the project's Pulumi.yaml for stacks with and
    # without a receiver (dev often has none): a warning on each of their runs would be noise.
    values, secrets = stack_values("dev")
    values = with_key(values, "argocd_notifications", {"format": "discord"})
    result = validate(values, secrets)
    assert result.problems == []
    assert not [w for w in result.warnings if "notifications" in w]
    assert result.config is not None
    assert result.config.argocd_notifications.format == "discord"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="notifications format 'teams'"):
        argocd_values("dev", ARGOCD_URL, notifications="teams")


# --- The rendered release ----------------------------------------------------------------------


def _object(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any] | None:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found[0] if found else None


@pytest.mark.parametrize("fmt", notifications.FORMATS)
def test_rendered_release_runs_the_controller_with_its_configuration(fmt: str) -> None:
    run = _run(fmt, URL)
    assert helm_render.release_problems({"resources": [_release_resource(run)]}, K8S) == []
    objects = _rendered(run)
    assert _object(objects, "Deployment", "argocd-notifications-controller") is not None
    # The program's Secret, not the chart's.
    assert _object(objects, "Secret", notifications.SECRET_NAME) is None
    cm = _object(objects, "ConfigMap", "argocd-notifications-cm")
    assert cm is not None
    data = cm["data"]
    triggers = [e.trigger for e in EVENTS]
    assert {
        f"service.webhook.{RECEIVER}",
        "subscriptions",
        "context",
        *(f"trigger.{t}" for t in triggers),
        *(f"template.{e.template}" for e in EVENTS),
    } <= set(data)
    ui = _one(run, helm_render.RELEASE_TYPE).inputs["values"]["configs"]["cm"]["url"]
    assert yaml.safe_load(data["context"]) == {"argocdUrl": ui, "environment": "dev"}
    assert yaml.safe_load(data["subscriptions"]) == [
        {"recipients": [RECEIVER], "triggers": triggers}
    ]
    service = yaml.safe_load(data[f"service.webhook.{RECEIVER}"])
    assert service["url"] == f"${URL_KEY}"
    assert {"name": "Content-Type", "value": "application/json"} in service["headers"]
    for event in EVENTS:
        (condition,) = yaml.safe_load(data[f"trigger.{event.trigger}"])
        assert condition["send"] == [event.template]
        # Once per synced revision: no repeat on a refresh of the same commit.
        assert condition["oncePer"] == "app.status.operationState?.syncResult?.revision"
        template = yaml.safe_load(data[f"template.{event.template}"])
        webhook = template["webhook"][RECEIVER]
        assert webhook["method"] == "POST"
        assert webhook["body"] == body_template(fmt, event)


@pytest.mark.parametrize("url", [URL, None])
def test_child_applications_report_their_health(url: str | None) -> None:
    objects = _rendered(_run(None, url))
    cm = _object(objects, "ConfigMap", "argocd-cm")
    assert cm is not None
    lua = cm["data"][APPLICATION_HEALTH_KEY]
    assert "hs.status = obj.status.health.status" in lua
    assert lua.rstrip().endswith("return hs")


# --- Bodies, rendered as Argo CD would ---------------------------------------------------------

APPS: dict[str, dict[str, Any]] = {
    "failed": {
        "metadata": {"name": "podinfo", "namespace": "argocd"},
        "spec": {"project": "dev", "source": {"repoURL": "https://github.com/o/r.git"}},
        "status": {
            "sync": {"status": "OutOfSync", "revision": "0123456789abcdef0123"},
            "health": {"status": "Degraded"},
            "operationState": {
                "phase": "Failed",
                "finishedAt": "2026-01-01T00:00:00Z",
                "message": 'one or more objects failed: "frontend" <Deployment> & co\nline 2',
            },
        },
    },
    "degraded": {
        "metadata": {"name": "podinfo", "namespace": "argocd"},
        "spec": {"project": "dev"},
        "status": {
            "sync": {"status": "Synced", "revision": "fedcba9876543210"},
            "health": {"status": "Degraded", "message": "Deployment exceeded its deadline"},
        },
    },
    "deployed": {
        "metadata": {"name": "platform", "namespace": "argocd"},
        "spec": {"project": "dev"},
        "status": {
            "sync": {"status": "Synced", "revision": "abcdef0123456789"},
            "health": {"status": "Healthy"},
            "operationState": {"phase": "Succeeded", "message": "successfully synced"},
        },
    },
    "bare": {"metadata": {"name": "new-app", "namespace": "argocd"}, "spec": {}},
}
CONTEXT = {"argocdUrl": ARGOCD_URL, "environment": "staging"}

CHART = """\
apiVersion: v2
name: notification-bodies
version: 0.1.0
"""
RENDER = """\
{{- range $name, $case := .Values.cases }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ $name }}
data:
  body: {{ tpl $case.template $case.vars | b64enc }}
{{- end }}
"""
HELM_ONLY = re.compile(r"\b(include|tpl|required|toYaml|fromYaml|fromJson|lookup)\b")
"""Functions Helm adds to Sprig that Argo CD's templates do not have."""


@lru_cache(maxsize=1)
def _bodies() -> dict[tuple[str, str, str], str]:
    """Every (format, event template, sample app) body, and each plain `message`, from one
    `helm template` run."""
    cases = {
        f"c{i}": (fmt, event.template, app)
        for i, (fmt, event, app) in enumerate(
            (f, e, a) for f in (*notifications.FORMATS, "message") for e in EVENTS for a in APPS
        )
    }
    templates = {e.template: e for e in EVENTS}
    values = {
        "cases": {
            key: {
                "template": (
                    message_template(templates[event])
                    if fmt == "message"
                    else body_template(fmt, templates[event])
                ),
                "vars": {"app": APPS[app], "context": CONTEXT},
            }
            for key, (fmt, event, app) in cases.items()
        }
    }
    with tempfile.TemporaryDirectory(prefix="notification-bodies-") as tmp:
        chart = Path(tmp) / "chart"
        (chart / "templates").mkdir(parents=True)
        (chart / "Chart.yaml").write_text(CHART)
        (chart / "templates" / "bodies.yaml").write_text(RENDER)
        (Path(tmp) / "values.json").write_text(json.dumps(values))
        result = subprocess.run(
            [
                str(helm_render.helm_binary()),
                "template",
                "t",
                str(chart),
                "-f",
                str(Path(tmp) / "values.json"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env={
                **os.environ,
                "HELM_CACHE_HOME": tmp,
                "HELM_CONFIG_HOME": tmp,
                "HELM_DATA_HOME": tmp,
            },
        )
    assert result.returncode == 0, result.stderr
    out = {}
    for doc in yaml.safe_load_all(result.stdout):
        if doc:
            out[cases[doc["metadata"]["name"]]] = base64.b64decode(doc["data"]["body"]).decode()
    return out


def _detail(event: notifications.Event, app: str) -> str:
    """The text the event's message carries for a sample app ("" when it has none)."""
    value: Any = APPS[app]
    for key in event.detail:
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, str) else ""


def _body(fmt: str, event: str, app: str) -> dict[str, Any]:
    body = json.loads(_bodies()[(fmt, event, app)])
    assert isinstance(body, dict)
    return body


def test_templates_use_only_what_argo_cd_templates_have() -> None:
    for fmt in notifications.FORMATS:
        for event in EVENTS:
            assert not HELM_ONLY.search(body_template(fmt, event))


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.template)
def test_slack_gets_text_and_blocks(event: notifications.Event, app: str) -> None:
    body = _body("slack", event.template, app)
    assert set(body) == {"text", "blocks"}
    name = APPS[app]["metadata"]["name"]
    assert f"[staging] {name}" in body["text"]
    head, facts, *detail = body["blocks"]
    assert head["type"] == "section" and head["text"]["type"] == "mrkdwn"
    assert f"<{ARGOCD_URL}/applications/{name}|{name}>" in head["text"]["text"]
    labels = [f["text"].split("\n")[0] for f in facts["fields"]]
    assert labels == ["*Sync*", "*Health*", "*Revision*", "*Project*"]
    assert all(f["text"].split("\n")[1] for f in facts["fields"])
    expected = _detail(event, app)
    assert len(detail) == (1 if expected else 0)
    if expected:
        text = detail[0]["text"]["text"]
        assert text.startswith("```") and text.endswith("```")
        if "<" in expected:
            assert "&lt;Deployment&gt; &amp; co" in text


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.template)
def test_discord_gets_content_and_an_embed(event: notifications.Event, app: str) -> None:
    body = _body("discord", event.template, app)
    assert set(body) == {"content", "embeds"}
    assert 0 < len(body["content"]) <= 2000
    (embed,) = body["embeds"]
    name = APPS[app]["metadata"]["name"]
    assert embed["url"] == f"{ARGOCD_URL}/applications/{name}"
    assert embed["color"] == event.colour
    assert embed["title"].startswith(name)
    assert [f["name"] for f in embed["fields"]] == ["Sync", "Health", "Revision", "Project"]
    assert all(f["value"] and f["inline"] is True for f in embed["fields"])
    # Discord refuses an empty description: none without text.
    assert embed.get("description", "") == _detail(event, app)


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.template)
def test_webhook_gets_every_fact_as_json(event: notifications.Event, app: str) -> None:
    body = _body("webhook", event.template, app)
    source = APPS[app]
    status = source.get("status", {})
    assert body["event"] == event.template and body["trigger"] == event.trigger
    assert body["application"] == source["metadata"]["name"]
    assert body["environment"] == "staging"
    assert body["url"] == f"{ARGOCD_URL}/applications/{source['metadata']['name']}"
    assert body["syncStatus"] == status.get("sync", {}).get("status", "Unknown")
    assert body["healthStatus"] == status.get("health", {}).get("status", "Unknown")
    assert body["revision"] == status.get("sync", {}).get("revision", "-")
    if app == "failed" and event.template == "app-sync-failed":
        # Quotes, `<`, `&` and newlines arrive as they were.
        assert body["message"] == status["operationState"]["message"]
        assert body["operationPhase"] == "Failed"


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.template)
def test_plain_message_is_the_summary_and_the_link(event: notifications.Event, app: str) -> None:
    name = APPS[app]["metadata"]["name"]
    summary, link = _bodies()[("message", event.template, app)].splitlines()
    assert summary.startswith(f"{event.emoji} [staging] {name} {event.what}: sync ")
    assert link == f"{ARGOCD_URL}/applications/{name}"
