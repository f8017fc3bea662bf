"""The evaluator of job conditions that tests deploy.yml (workflow_run.py) follows GitHub's rules
where deploy.yml relies on them."""

from __future__ import annotations

from typing import Any

import pytest

from .workflow_run import ExpressionError, evaluate, parse_condition, ran, run

PUSH = {"github": {"event_name": "push"}, "inputs": {}}


def value(expression: str, context: dict[str, Any] | None = None) -> Any:
    return evaluate(parse_condition(expression), context or PUSH)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'ALL' == 'all'", True),  # strings compare ignoring case
        ("inputs.stack == 'all'", False),  # no inputs on a push: null
        ("inputs.stack != 'prod-b'", True),  # ... which differs from every name
        ("inputs.stack == 0", True),  # null is 0 next to a number
        ("'prod' == 0", False),  # a word is NaN
        ("inputs.stack || 'all'", "all"),  # || gives the first truthy value
        ("'a' && ''", ""),  # && the first falsy one
        ("true || false && false", True),  # && before ||
        ("!true == false", True),  # ! before ==
        ("${{ github.event_name == 'push' }}", True),
    ],
)
def test_expressions_evaluate_as_on_github(expression: str, expected: Any) -> None:
    assert value(expression) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "${{ true }} && ${{ false }}",  # a string to GitHub: always true
        "need.prod.result == 'success'",  # a context that does not exist
        "fromJSON('[]')",  # a function this evaluator does not know
        "success() &&",
    ],
)
def test_what_it_cannot_read_fails_rather_than_reads_as_null(expression: str) -> None:
    with pytest.raises(ExpressionError):
        value(expression)


WORKFLOW: dict[str, Any] = {
    "on": {
        "workflow_dispatch": {
            "inputs": {"only": {"type": "choice", "options": ["a", "b"], "default": "a"}}
        }
    },
    "jobs": {
        "a": {},
        "b": {"needs": "a", "if": "inputs.only == 'b'"},
        "c": {"needs": "b", "if": "failure()"},
        "d": {"needs": "b", "if": "${{ !cancelled() && inputs.only == 'b' }}"},
    },
}


def test_a_condition_without_a_status_function_waits_for_its_needs_to_succeed() -> None:
    # b names itself but its need a was skipped: the implicit success() skips b.
    a_skipped = {**WORKFLOW, "jobs": {**WORKFLOW["jobs"], "a": {"if": "false"}}}
    assert ran(run(a_skipped, "workflow_dispatch", inputs={"only": "b"})) == ["d"]
    # failure() sees every ancestor: a's failure reaches c through the skipped b.
    assert run(WORKFLOW, "push", outcomes={"a": "failure"}) == {
        "a": "failure",
        "b": "skipped",
        "c": "success",
        "d": "skipped",
    }


def test_a_dispatch_takes_the_defaults_and_refuses_a_choice_outside_the_options() -> None:
    assert ran(run(WORKFLOW, "workflow_dispatch")) == ["a"]
    assert ran(run(WORKFLOW, "workflow_dispatch", inputs={"only": "b"})) == ["a", "b", "d"]
    with pytest.raises(ExpressionError, match="'z' is not one of"):
        run(WORKFLOW, "workflow_dispatch", inputs={"only": "z"})
    with pytest.raises(ExpressionError, match="no such input"):
        run(WORKFLOW, "workflow_dispatch", inputs={"stack": "a"})
