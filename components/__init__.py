"""One ComponentResource per concern; each module's name says what it holds."""

PROJECT = "talos-platform"


def type_token(area: str, name: str) -> str:
    """The `<project>:<area>:<Name>` type token of a component."""
    return f"{PROJECT}:{area}:{name}"
