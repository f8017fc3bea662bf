"""Argo CD notifications: one receiver, given as a secret URL, told about every Application.

The receiver is a generic webhook service of Argo CD notifications (notifications-engine
`pkg/services/webhook.go`), whichever format it speaks: a Slack incoming webhook is a URL that
takes a JSON POST, not the bot token `service.slack` needs, and argo-cd v3.4.4
`docs/operator-manual/notifications/services/slack.md` sends it through the webhook service
(`webhook.md`, "Send Slack": POST, `Content-Type: application/json`); so is a Discord webhook.
Only the body differs: each template's `webhook.<receiver>.body` is the chosen format's.

The URL carries the receiver's token, so it never enters the Helm values (the plan prints them,
and a secret inside makes the whole values secret): the chart's ConfigMap names it as
`$notifications-url`, which the controller replaces with that key of `argocd-notifications-secret`
(notifications-engine `pkg/api/config.go`, `replaceServiceConfigSecrets`, keys matching
`[$][\\w-]+`), and the program writes that Secret itself (`secret_manifest`).

Pinned upstream: argo-cd v3.4.4 uses notifications-engine 1dbe3de712f8 (its go.mod), whose
templates are Go text/template with the Sprig 3.3.0 functions minus `env` and `expandenv`
(`pkg/templates/service.go`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import yaml

from ..kubernetes import Manifest
from ..kubernetes.objects import secret_manifest as opaque_secret
from .root_app import NAMESPACE

NotificationFormat = Literal["slack", "discord", "webhook"]
FORMATS: tuple[str, ...] = get_args(NotificationFormat)

#: The chart's default `notifications.secret.name`, which the controller reads (`--secret-name`
#: in upstream/charts/argo-cd/templates/argocd-notifications/deployment.yaml).
SECRET_NAME = "argocd-notifications-secret"
#: The key of the receiver's URL in that Secret, referenced as `$notifications-url`.
URL_KEY = "notifications-url"
#: The webhook service's name: `service.webhook.<name>` in the ConfigMap, `webhook.<name>` in
#: each template, and the subscription's recipient (argo-cd
#: `docs/operator-manual/notifications/subscriptions.md`: a webhook subscription names the
#: webhook in `recipients`).
RECEIVER = "receiver"

#: At most this many characters of an operation or health message go into a notification
#: (Slack: 3000 per section text; Discord: 4096 per embed description).
DETAIL_LIMIT = 900


@dataclass(frozen=True)
class Event:
    """One trigger and the template it sends. `when` and `once_per` are the argo-cd v3.4.4
    catalog's (`notifications_catalog/triggers/<trigger>.yaml`)."""

    trigger: str
    template: str
    description: str
    when: str
    once_per: str
    emoji: str
    what: str
    colour: int
    """Discord embed colour (the catalog templates' Slack attachment colours)."""
    detail: tuple[str, ...]
    """Where in the Application the message text of this event is (`status.<...>`)."""


_ONCE_PER_REVISION = "app.status.operationState?.syncResult?.revision"

EVENTS: tuple[Event, ...] = (
    Event(
        trigger="on-sync-failed",
        template="app-sync-failed",
        description="Application syncing has failed",
        when="app.status.operationState != nil and app.status.operationState.phase in "
        "['Error', 'Failed']",
        once_per=_ONCE_PER_REVISION,
        emoji="❌",
        what="sync failed",
        colour=0xE96D76,
        detail=("status", "operationState", "message"),
    ),
    Event(
        trigger="on-health-degraded",
        template="app-health-degraded",
        description="Application has degraded",
        when="app.status.health.status == 'Degraded'",
        once_per=_ONCE_PER_REVISION,
        emoji="⚠️",
        what="degraded",
        colour=0xF4C030,
        detail=("status", "health", "message"),
    ),
    Event(
        trigger="on-deployed",
        template="app-deployed",
        description="Application is synced and healthy. Triggered once per commit.",
        # Synced and healthy, and healthy because of this sync (within a minute of it, or
        # already before it started): a later recovery is not a deployment.
        when="app.status.operationState != nil and app.status.operationState.phase in "
        "['Succeeded'] and app.status.health.status == 'Healthy' and "
        "(!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute)"
        ".Before(time.Parse(app.status.operationState.finishedAt)) or "
        "time.Parse(app.status.health.lastTransitionTime)"
        ".Before(time.Parse(app.status.operationState.startedAt)))",
        # Once per synced revision: a refresh or a resync of the same commit stays quiet.
        once_per=_ONCE_PER_REVISION,
        emoji="✅",
        what="deployed",
        colour=0x18BE52,
        detail=("status", "operationState", "message"),
    ),
)


def check_format(fmt: str) -> NotificationFormat:
    if fmt not in FORMATS:
        raise ValueError(f"unknown notifications format {fmt!r}: expected one of {FORMATS}")
    return cast(NotificationFormat, fmt)


# --- Go templates ------------------------------------------------------------------------------
#
# Every body is built with Sprig's `dict`/`list` and serialised by `toJson`, never by pasting text
# into JSON: an operation message with quotes, newlines or `<` stays one valid JSON string.
# Fields are read with `dig` (a missing `status.operationState` gives the default instead of a
# template error; `.app` is the Application as a map[string]any, argo-cd v3.4.4
# util/notification/settings/settings.go, `initGetVars`) and `default` (also for "" or null).


def _go(text: str) -> str:
    """A Go string literal (JSON's escapes are a subset of Go's)."""
    return json.dumps(text, ensure_ascii=False)


def _field(path: tuple[str, ...], default: str) -> str:
    keys = " ".join(_go(part) for part in path)
    return f'dig {keys} "" .app | default {_go(default)}'


def _preamble(event: Event) -> list[str]:
    return [
        f"{{{{- $emoji := {_go(event.emoji)} -}}}}",
        f"{{{{- $what := {_go(event.what)} -}}}}",
        "{{- $app := .app.metadata.name -}}",
        "{{- $env := .context.environment -}}",
        # The catalog templates' link to the Application in the UI.
        '{{- $url := printf "%s/applications/%s" .context.argocdUrl $app -}}',
        f"{{{{- $project := {_field(('spec', 'project'), 'default')} -}}}}",
        f"{{{{- $sync := {_field(('status', 'sync', 'status'), 'Unknown')} -}}}}",
        f"{{{{- $health := {_field(('status', 'health', 'status'), 'Unknown')} -}}}}",
        f"{{{{- $revision := {_field(('status', 'sync', 'revision'), '-')} -}}}}",
        f"{{{{- $phase := {_field(('status', 'operationState', 'phase'), '')} -}}}}",
        f"{{{{- $finishedAt := {_field(('status', 'operationState', 'finishedAt'), '')} -}}}}",
        f"{{{{- $repo := {_field(('spec', 'source', 'repoURL'), '')} -}}}}",
        f"{{{{- $detail := {_field(event.detail, '')} | trunc {DETAIL_LIMIT} -}}}}",
        '{{- $summary := printf "%s [%s] %s %s: sync %s, health %s, revision %s" '
        "$emoji $env $app $what $sync $health (trunc 8 $revision) -}}",
    ]


FACTS = (
    ("Sync", "$sync"),
    ("Health", "$health"),
    ("Revision", "(trunc 8 $revision)"),
    ("Project", "$project"),
)
"""The fields of a Slack or Discord message: name and the template variable it shows."""


def _slack() -> list[str]:
    """A Slack incoming webhook's payload: `text` (the notification's fallback) and Block Kit
    `blocks`; mrkdwn needs `&`, `<` and `>` escaped in free text."""
    field = '(dict "type" "mrkdwn" "text" (printf "*{name}*\\n%s" {value}))'
    fields = " ".join(field.format(name=name, value=value) for name, value in FACTS)
    return [
        '{{- $escaped := $detail | replace "&" "&amp;" | replace "<" "&lt;" '
        '| replace ">" "&gt;" -}}',
        '{{- $head := dict "type" "section" "text" (dict "type" "mrkdwn" "text" '
        '(printf "%s *<%s|%s>* %s in *%s*" $emoji $url $app $what $env)) -}}',
        f'{{{{- $facts := dict "type" "section" "fields" (list {fields}) -}}}}',
        "{{- $blocks := list $head $facts -}}",
        '{{- if $detail }}{{ $blocks = append $blocks (dict "type" "section" "text" '
        '(dict "type" "mrkdwn" "text" (printf "```%s```" $escaped))) }}{{ end -}}',
        '{{- dict "text" $summary "blocks" $blocks | toJson -}}',
    ]


def _discord(event: Event) -> list[str]:
    """A Discord webhook's payload: `content` and one embed (title linked to the UI, colour,
    inline fields; a description only when there is text, Discord refuses empty ones)."""
    field = '(dict "name" "{name}" "value" {value} "inline" true)'
    fields = " ".join(field.format(name=name, value=value) for name, value in FACTS)
    return [
        f"{{{{- $fields := list {fields} -}}}}",
        '{{- $embed := dict "title" (printf "%s %s" $app $what | trunc 256) "url" $url '
        f'"color" {event.colour} "fields" $fields '
        '"footer" (dict "text" (printf "Argo CD %s" $env)) -}}',
        '{{- if $detail }}{{ $_ := set $embed "description" $detail }}{{ end -}}',
        '{{- dict "content" $summary "embeds" (list $embed) | toJson -}}',
    ]


def _webhook(event: Event) -> list[str]:
    """Plain JSON for any receiver: every fact as its own field."""
    pairs = {
        "event": _go(event.template),
        "trigger": _go(event.trigger),
        "summary": "$summary",
        "environment": "$env",
        "application": "$app",
        "project": "$project",
        "syncStatus": "$sync",
        "healthStatus": "$health",
        "revision": "$revision",
        "operationPhase": "$phase",
        "finishedAt": "$finishedAt",
        "message": "$detail",
        "repoURL": "$repo",
        "url": "$url",
    }
    body = " ".join(f"{_go(key)} {value}" for key, value in pairs.items())
    return [f"{{{{- dict {body} | toJson -}}}}"]


def body_template(fmt: str, event: Event) -> str:
    """The Go template of the JSON body `fmt`'s receiver gets for `event`."""
    payload = {
        "slack": _slack(),
        "discord": _discord(event),
        "webhook": _webhook(event),
    }[check_format(fmt)]
    return "\n".join([*_preamble(event), *payload]) + "\n"


def message_template(event: Event) -> str:
    """Plain text (`message`): what `argocd admin notifications template notify` prints."""
    return "\n".join([*_preamble(event), "{{ $summary }}", "{{ $url }}"]) + "\n"


# --- The chart's values ------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (`|`), as one would write them by hand."""


def _literal(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _literal)


def _yaml(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)


def notifier_values(fmt: str, environment: str, external_url: str) -> dict[str, Any]:
    """The `notifications` chart values (besides `enabled` and `resources`) for a receiver in
    `fmt`, in `environment`, linking to the UI at `external_url`.

    upstream/charts/argo-cd/templates/argocd-configs/argocd-notifications-cm.yaml writes
    `notifiers`, `templates` and `triggers` as ConfigMap keys, `subscriptions` as the
    `subscriptions` key and `context` below `argocdUrl` (which defaults to
    https://`global.domain`; set here to the same URL the UI link uses).
    """
    check_format(fmt)
    service = {
        "url": f"${URL_KEY}",
        # The webhook service sends no Content-Type of its own (webhook.go, `request`), and
        # Slack and Discord take a JSON body only as application/json.
        "headers": [{"name": "Content-Type", "value": "application/json"}],
    }
    templates = {
        f"template.{event.template}": _yaml(
            {
                "message": message_template(event),
                # The webhook service's default method is GET (webhook.go, `Send`).
                "webhook": {RECEIVER: {"method": "POST", "body": body_template(fmt, event)}},
            }
        )
        for event in EVENTS
    }
    triggers = {
        f"trigger.{event.trigger}": _yaml(
            [
                {
                    "when": event.when,
                    "description": event.description,
                    "send": [event.template],
                    "oncePer": event.once_per,
                }
            ]
        )
        for event in EVENTS
    }
    return {
        "argocdUrl": external_url.rstrip("/"),
        "context": {"environment": environment},
        # The chart would create an empty Secret of this name (argocd-notifications-secret.yaml);
        # the program creates it with the URL instead.
        "secret": {"create": False},
        "notifiers": {f"service.webhook.{RECEIVER}": _yaml(service)},
        # Every Application, no annotation needed (notifications-engine
        # pkg/subscriptions/global.go; argo-cd docs/operator-manual/notifications/subscriptions.md
        # "Default Subscriptions").
        "subscriptions": [{"recipients": [RECEIVER], "triggers": [e.trigger for e in EVENTS]}],
        "templates": templates,
        "triggers": triggers,
    }


def secret_manifest(url: object) -> Manifest:
    """`argocd-notifications-secret` with the receiver's URL (pass it as a secret Output).

    The controller watches this one Secret by name; while it is missing it reads an empty one,
    and its creation rebuilds the configuration (notifications-engine `pkg/api/factory.go`:
    NotFound gives an empty Secret, the informer's add handler invalidates the cached API), so
    the controller need not wait for it.
    """
    return opaque_secret(
        SECRET_NAME,
        NAMESPACE,
        {
            "app.kubernetes.io/part-of": "argocd",
            "app.kubernetes.io/component": "notifications-controller",
        },
        {URL_KEY: url},
    )
