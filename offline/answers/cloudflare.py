"""Answers of the Cloudflare provider (cloudflare/terraform-provider-cloudflare v5, bridged as
pulumi-cloudflare 6): tunnels and their configuration, DNS records, Access applications and
policies, R2 buckets and their lifecycle, account API tokens, and the functions the program
calls. File paths below are under the provider's `internal/services/`."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from .fabricate import CREATED_AT, UUID_NAMESPACE, digest, plain, raw_bytes, secret

TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
"""An API token's value: 40 characters of the URL-safe base64 alphabet (Cloudflare's "API
token" format; the provider only marks it sensitive, `account_token/schema.go`, `value`)."""

ACCOUNT = "com.cloudflare.api.account"
PERMISSION_GROUPS = (
    # (id, name, scopes): the account's API token permission groups as
    # GET /accounts/{account_id}/tokens/permission_groups lists them
    # (`account_api_token_permission_groups/list_data_source_schema.go`: id, name, scopes).
    # The ids are Cloudflare's own, the same in every account; a few besides the R2 item groups
    # so that code which picks by name is exercised, never handed only what it asks for.
    ("bf7481a1826f439697cb59a20b22293e", "Workers R2 Storage Write", [ACCOUNT]),
    ("b4992e1108244f5d8bfbd5744320c2e1", "Workers R2 Storage Read", [ACCOUNT]),
    (
        "2efd5506f9c8494dacb1fa10a3e7d5b6",
        "Workers R2 Storage Bucket Item Write",
        ["com.cloudflare.edge.r2.bucket"],
    ),
    (
        "6a018a9f2fc74eb6b293b0c548f38b39",
        "Workers R2 Storage Bucket Item Read",
        ["com.cloudflare.edge.r2.bucket"],
    ),
    ("c8fed203ed3043cba015a93ad1616f1f", "Zone Read", ["com.cloudflare.api.account.zone"]),
    ("4755a26eedb94da69e1066d98aa820be", "DNS Write", ["com.cloudflare.api.account.zone"]),
)


def tunnel_token(account_id: str, tunnel_id: str, tunnel_secret: str) -> str:
    """The connector token (cloudflare/cloudflared `connection/connection.go`, `TunnelToken`):
    standard base64 of `{"a": account tag, "s": tunnel secret (base64), "t": tunnel id}`."""
    payload = json.dumps(
        {"a": account_id, "s": tunnel_secret, "t": tunnel_id}, separators=(",", ":")
    )
    return secret(base64.b64encode(payload.encode()).decode())


def api_token_value(*parts: object) -> str:
    raw = raw_bytes(40, "api-token", *parts)
    return secret("".join(TOKEN_ALPHABET[b % len(TOKEN_ALPHABET)] for b in raw))


def resource(
    typ: str, name: str, inputs: dict[str, Any], tunnel_secrets: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The id and outputs of a `cloudflare:` resource; `tunnel_secrets` collects each tunnel's
    secret for the token function."""
    if typ == "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared":
        # `zero_trust_tunnel_cloudflared/schema.go`: a UUID id and the account tag; the secret
        # is write-only (never read back).
        tunnel_id = str(
            uuid.uuid5(UUID_NAMESPACE, f"{inputs.get('accountId')}/{inputs.get('name')}")
        )
        tunnel_secrets[tunnel_id] = str(plain(inputs.get("tunnelSecret")) or "")
        return tunnel_id, {
            **inputs,
            "accountTag": inputs.get("accountId"),
            "createdAt": CREATED_AT,
            "connsActiveAt": None,
            "connsInactiveAt": None,
            "deletedAt": None,
            "remoteConfig": inputs.get("configSrc") == "cloudflare",
            "status": "inactive",
            "tunType": "cfd_tunnel",
            "connections": [],
        }
    if typ == "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig":
        # `zero_trust_tunnel_cloudflared_config/model.go`: the id is the tunnel's.
        return str(inputs.get("tunnelId")), {
            **inputs,
            "createdAt": CREATED_AT,
            "source": "cloudflare",
            "version": 1,
        }
    if typ == "cloudflare:index/dnsRecord:DnsRecord":
        # `dns_record/schema.go`: a 32-hex id and timestamps.
        return digest(typ, name)[:32], {
            **inputs,
            "createdOn": CREATED_AT,
            "modifiedOn": CREATED_AT,
            "proxiable": True,
            "meta": "{}",
        }
    if typ in (
        "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication",
        "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy",
    ):
        # Access ids are UUIDs; an application also gets its 64-hex audience tag.
        outputs = {**inputs, "createdAt": CREATED_AT, "updatedAt": CREATED_AT}
        if typ.endswith("ZeroTrustAccessApplication"):
            outputs["aud"] = digest("aud", typ, name)
            saas = inputs.get("saasApp")
            if isinstance(saas, dict) and saas.get("authType") == "oidc":
                # `zero_trust_access_application/schema.go`, `saas_app`: `client_id` computed,
                # `client_secret` computed and sensitive (returned by the create only,
                # `normalizations.go` keeps it from the state), `access_token_lifetime`
                # computed, "5m" by default. Both credentials are opaque strings; hex here.
                outputs["saasApp"] = {
                    **saas,
                    "clientId": digest("client-id", typ, name),
                    "clientSecret": secret(digest("client-secret", typ, name)),
                    "accessTokenLifetime": saas.get("accessTokenLifetime", "5m"),
                }
        return str(uuid.uuid5(UUID_NAMESPACE, f"{typ}/{name}")), outputs
    if typ == "cloudflare:index/r2Bucket:R2Bucket":
        # `r2_bucket/schema.go` and `model.go`: the id is the bucket's name; `jurisdiction`
        # defaults to "default", `storage_class` to "Standard"; `location` is computed when not
        # given (the API answers it upper-case, the provider keeps what was configured).
        return str(inputs.get("name")), {
            **inputs,
            "jurisdiction": inputs.get("jurisdiction", "default"),
            "location": inputs.get("location") or "ENAM",
            "storageClass": inputs.get("storageClass", "Standard"),
            "creationDate": CREATED_AT,
        }
    if typ in (
        "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle",
        "cloudflare:index/r2BucketLock:R2BucketLock",
    ):
        # `r2_bucket_lifecycle/model.go`, `r2_bucket_lock/model.go`: no id of their own in the
        # API; pulumi-cloudflare computes one from the account (provider/resources.go,
        # `resourcesWithMissingID`: the account id, as neither has a zone).
        return str(inputs.get("accountId")), {
            **inputs,
            "jurisdiction": inputs.get("jurisdiction", "default"),
        }
    if typ == "cloudflare:index/accountToken:AccountToken":
        # `account_token/schema.go`: a 32-hex id, the secret `value` (only returned at
        # creation), status "active" and timestamps.
        token_id = digest(typ, inputs.get("accountId"), name)[:32]
        return token_id, {
            **inputs,
            "status": inputs.get("status", "active"),
            "issuedOn": CREATED_AT,
            "modifiedOn": CREATED_AT,
            "lastUsedOn": None,
            "value": api_token_value(token_id),
        }
    if typ in LOAD_BALANCING:
        return digest(typ, name)[:32], load_balancing(typ, inputs)
    return digest(typ, name)[:32], inputs


LOAD_BALANCING = (
    "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor",
    "cloudflare:index/loadBalancerPool:LoadBalancerPool",
    "cloudflare:index/loadBalancer:LoadBalancer",
)


def load_balancing(typ: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs of a monitor, a pool or a load balancer: each has a 32-hex id, `created_on`
    and `modified_on`, and the schema's defaults for what was not sent (`load_balancer_monitor/
    schema.go`, `load_balancer_pool/schema.go`, `load_balancer/schema.go`, `Default:`)."""
    stamps = {"createdOn": CREATED_AT, "modifiedOn": CREATED_AT}
    if typ.endswith(":LoadBalancerMonitor"):
        kind = str(inputs.get("type", "http"))
        web = kind in ("http", "https")
        return {
            "allowInsecure": False,
            "description": "",
            "expectedBody": "",
            "expectedCodes": "",
            "followRedirects": False,
            "interval": 60,
            "probeZone": "",
            "retries": 2,
            "timeout": 5,
            "type": kind,
            # Computed by the API when not sent: GET for HTTP(S), `connection_established` for
            # TCP (the schema's description of `method`), `/` as the path of an HTTP(S) check.
            "method": "GET" if web else "connection_established",
            **({"path": "/"} if web else {}),
            **inputs,
            **stamps,
        }
    if typ.endswith(":LoadBalancerPool"):
        origins = [
            {"enabled": True, "flattenCname": True, "port": 0, "weight": 1, **o}
            for o in inputs.get("origins") or []
            if isinstance(o, dict)
        ]
        return {
            "description": "",
            "enabled": True,
            "minimumOrigins": 1,
            "notificationEmail": "",
            "loadShedding": {
                "defaultPercent": 0,
                "defaultPolicy": "random",
                "sessionPercent": 0,
                "sessionPolicy": "hash",
            },
            "originSteering": {"policy": "random"},
            "checkRegions": None,
            "networks": [],
            "disabledAt": None,
            **inputs,
            "origins": origins,
            **stamps,
        }
    # The load balancer: `zone_name` is the name of the zone of `zone_id` (here the hostname's
    # last two labels, the zone of every shipped config); `ttl` is computed (it applies only
    # when not proxied): 30, as the provider's own configurations set it
    # (`load_balancer/migration/v500/testdata/v5_basic.tf`).
    return {
        "enabled": True,
        "proxied": False,
        "sessionAffinity": "none",
        "steeringPolicy": "",
        "ttl": 30,
        **inputs,
        "zoneName": ".".join(str(inputs.get("name", "")).split(".")[-2:]),
        **stamps,
    }


def call(token: str, args: dict[str, Any], tunnel_secrets: dict[str, str]) -> dict[str, Any] | None:
    """The result of a `cloudflare:` function, or None for one not answered here."""
    if token == (
        "cloudflare:index/getZeroTrustTunnelCloudflaredToken:getZeroTrustTunnelCloudflaredToken"
    ):
        tunnel_id = str(args.get("tunnelId"))
        tunnel_secret = tunnel_secrets.get(tunnel_id, "")
        return {
            **args,
            "token": tunnel_token(str(args.get("accountId")), tunnel_id, tunnel_secret),
        }
    if token == (
        "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList"
    ):
        # `account_api_token_permission_groups/list_data_source.go`: every group of the account
        # (optionally filtered by exact name or scope) under `result`, bridged as `results`.
        groups = [
            {"id": gid, "name": gname, "scopes": scopes}
            for gid, gname, scopes in PERMISSION_GROUPS
            if args.get("name") in (None, gname) and args.get("scope") in (None, *scopes)
        ]
        return {**args, "results": groups}
    return None
