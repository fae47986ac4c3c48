"""The tenant a request acts for comes from its subject; the body may only agree."""

from __future__ import annotations

import json

import pytest

from jamjet_common import subjects
from jamjet_common.config import ConfigError, Env
from jamjet_common.errors import InvalidTokenError, TenantMismatchError
from jamjet_common.natsauth import NatsAuth
from jamjet_common.tenancy import bind_tenant


def test_a_tenant_scoped_subject_names_its_tenant_and_the_plain_subject() -> None:
    scoped = subjects.scoped("acme", subjects.CMD_START)
    assert scoped == "jamjet.tenant.acme.cmd.executions.start"
    assert subjects.tenant_from_subject(scoped) == ("acme", subjects.CMD_START)
    assert subjects.tenant_from_subject(subjects.CMD_START) == (None, subjects.CMD_START)
    assert subjects.is_stored_command(scoped)
    assert not subjects.is_stored_command(subjects.scoped("acme", subjects.tenant_cmd("create")))


def test_a_scoped_subject_with_a_bad_tenant_token_is_refused() -> None:
    with pytest.raises(InvalidTokenError):
        subjects.tenant_from_subject("jamjet.tenant.a*b.cmd.executions.start")


@pytest.mark.parametrize("body", [{}, {"tenant": "acme"}, {"workflow_id": "w", "tenant": None}])
def test_the_body_acts_for_the_subjects_tenant(body: dict[str, object]) -> None:
    subject, data = bind_tenant(subjects.scoped("acme", subjects.CMD_START), json.dumps(body).encode())
    assert subject == subjects.CMD_START and json.loads(data)["tenant"] == "acme"


def test_a_body_naming_another_tenant_is_a_tenant_mismatch() -> None:
    with pytest.raises(TenantMismatchError) as caught:
        bind_tenant(subjects.scoped("acme", subjects.store("executions")), b'{"tenant": "globex"}')
    assert caught.value.code == "tenant_mismatch" and "globex" in caught.value.message


@pytest.mark.parametrize("data", [b"not json", b"[1]", b""])
def test_an_unreadable_body_is_left_to_the_handlers_decoder(data: bytes) -> None:
    assert bind_tenant(subjects.scoped("acme", subjects.CMD_START), data) == (subjects.CMD_START, data)


def test_a_plain_subject_is_left_as_it_is_and_may_name_any_tenant() -> None:
    body = b'{"tenant": "globex"}'
    assert bind_tenant(subjects.CMD_START, body) == (subjects.CMD_START, body)


def test_nats_credentials_from_the_environment() -> None:
    assert NatsAuth.from_env(Env({})).connect_options() == {}
    both = Env({"NATS_USER": "u", "NATS_PASSWORD": "p"})
    assert NatsAuth.from_env(both).connect_options() == {"user": "u", "password": "p"}
    with pytest.raises(ConfigError, match="NATS_PASSWORD"):
        NatsAuth.from_env(Env({"NATS_USER": "u"}))
    with pytest.raises(ConfigError, match="NATS_NKEY_SEED_FILE"):
        NatsAuth.from_env(Env({"NATS_NKEY_SEED_FILE": "/nonexistent/seed.nk"}))
