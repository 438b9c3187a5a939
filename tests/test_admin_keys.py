"""``idp keys rotate | retire [--force] | list --json`` seen from the outside: the published
JWKS (RFC 7517 §5) and the tokens relying parties hold."""

from __future__ import annotations

from joserfc import jwt

from tests.admin_support import ADMIN, admin_events, idp, idp_json
from tests.oidc_support import jwks_of, sign_in, tokens_for


def _kids(browser) -> set[str]:
    return {k["kid"] for k in browser.get("/.well-known/jwks.json").get_json()["keys"]}


def test_rotate_publishes_the_new_key_and_keeps_the_old_until_its_tokens_expire(
        app, browser, rp, citizen_id):
    sign_in(app, browser, citizen_id)
    before = tokens_for(browser, *rp)
    old_kid = jwt.decode(before["access_token"], jwks_of(browser)).header["kid"]
    rotated = idp_json(app, "keys", "rotate", "--alg", "ES256")
    assert [r["retired"]["kid"] for r in rotated] == [old_kid]
    new_kid = rotated[0]["new"]["kid"]
    assert {old_kid, new_kid} <= _kids(browser)
    after = tokens_for(browser, *rp)
    assert jwt.decode(after["access_token"], jwks_of(browser)).header["kid"] == new_kid
    # The token signed before the rotation still works at UserInfo.
    assert browser.get("/userinfo", headers={"Authorization": f"Bearer {before['access_token']}"}
                       ).status_code == 200
    listed = {k["kid"]: k["status"] for k in idp_json(app, "keys", "list")}
    assert listed[old_kid] == "retired" and listed[new_kid] == "active"


def test_retire_keeps_publishing_and_force_unpublishes_at_once(app, browser, rp, citizen_id):
    sign_in(app, browser, citizen_id)
    tokens = tokens_for(browser, *rp)
    kid = jwt.decode(tokens["access_token"], jwks_of(browser)).header["kid"]

    retired = idp_json(app, "keys", "retire", kid)
    assert retired["kid"] == kid and retired["status"] == "retired"
    assert kid in _kids(browser)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert browser.get("/userinfo", headers=bearer).status_code == 200

    forced = idp_json(app, "keys", "retire", kid, "--force")
    assert forced["status"] == "expired"
    assert kid not in _kids(browser)
    assert browser.get("/userinfo", headers=bearer).status_code == 401
    # New tokens are signed by a fresh key of the same algorithm.
    fresh = tokens_for(browser, *rp)
    assert jwt.decode(fresh["access_token"], jwks_of(browser)).header["kid"] != kid
    events = admin_events(app, "keys.")
    assert [(e.action, e.actor, e.details["force"]) for e in events] == [
        ("keys.retired", ADMIN, False), ("keys.retired", ADMIN, True)]


def test_unknown_kid_is_one_line_and_exit_1(app):
    result = idp(app, "keys", "retire", "no-such-kid")
    assert result.exit_code == 1
    assert result.stderr == "idp: no key with kid 'no-such-kid'\n"


def test_rotate_refuses_an_unknown_algorithm(app):
    result = idp(app, "keys", "rotate", "--alg", "HS256")
    assert result.exit_code == 2 and "HS256" in result.stderr


def test_every_keys_command_has_an_example_in_its_help(app):
    for command in ("list", "rotate", "retire"):
        result = idp(app, "keys", command, "--help")
        assert result.exit_code == 0 and "Example" in result.stdout, command
